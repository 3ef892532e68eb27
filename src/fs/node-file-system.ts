/** The real filesystem, through node:fs. */
import { constants, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileSystem, ReadHandle, Stat, StatKind, WriteHandle } from './file-system.js';

function toStat(stats: Stats): Stat {
  let kind: StatKind = 'other';
  if (stats.isFile()) kind = 'file';
  else if (stats.isDirectory()) kind = 'dir';
  else if (stats.isSymbolicLink()) kind = 'symlink';
  return {
    kind,
    size: stats.size,
    mtimeMs: Math.round(stats.mtimeMs),
    ino: stats.ino,
    mode: stats.mode & 0o777,
  };
}

export class NodeFileSystem implements FileSystem {
  async lstat(path: string): Promise<Stat | undefined> {
    try {
      return toStat(await fsp.lstat(path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  readdir(path: string): Promise<string[]> {
    return fsp.readdir(path);
  }

  readlink(path: string): Promise<string> {
    return fsp.readlink(path);
  }

  async openRead(path: string): Promise<ReadHandle> {
    // O_NOFOLLOW: never read through a link that replaced the file since it was scanned.
    const handle = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    return {
      read: async (buffer, offset, length, position) =>
        (await handle.read(buffer, offset, length, position)).bytesRead,
      stat: async () => toStat(await handle.stat()),
      close: () => handle.close(),
    };
  }

  async createWrite(path: string, mode: number): Promise<WriteHandle> {
    const handle = await fsp.open(
      path,
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
      mode,
    );
    return {
      write: async (data) => {
        let written = 0;
        while (written < data.length) {
          written += (await handle.write(data, written, data.length - written)).bytesWritten;
        }
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  }

  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }

  rmdir(path: string): Promise<void> {
    return fsp.rmdir(path);
  }

  mkdir(path: string): Promise<void> {
    return fsp.mkdir(path).then(() => undefined);
  }

  symlink(target: string, path: string): Promise<void> {
    return fsp.symlink(target, path);
  }

  chmod(path: string, mode: number): Promise<void> {
    return fsp.chmod(path, mode);
  }

  async setMtime(path: string, mtimeMs: number): Promise<void> {
    const time = new Date(mtimeMs);
    await fsp.lutimes(path, time, time);
  }

  async syncDir(path: string): Promise<void> {
    const handle = await fsp.open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  removeTree(path: string): Promise<void> {
    return fsp.rm(path, { recursive: true, force: true });
  }
}

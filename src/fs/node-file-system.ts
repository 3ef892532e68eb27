/**
 * The real filesystem, through node:fs.
 *
 * Metadata calls (lstat, rename, mkdir, ...) are made synchronously: on a local disk they
 * are answered from the kernel's caches in a few microseconds, while an async call costs a
 * round trip through libuv's four-thread pool, where it also queues behind slow fsyncs and
 * reads. Measured here: 20,000 lstats take ~80 ms synchronously and ~390 ms async with 64 in
 * flight. Creating a file is the exception: while other files are being fsynced it waits for
 * the filesystem (ext4's journal; without one, as on this machine, the inode table blocks
 * those fsyncs are writing): 10,000 downloads spent 2.7 s of the event loop blocked in those
 * opens, and making every changing call async instead was slower still. Calls that move file
 * data (read, write, fsync) are async, so a large file or a slow disk never stalls the event
 * loop for long; but reads of a small file's size are synchronous (`SYNC_READ_BYTES`).
 */
import * as fs from 'node:fs';
import { constants, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import type {
  Barrier,
  FileSystem,
  FolderNames,
  ReadHandle,
  SpecialKind,
  Stat,
  StatKind,
  WriteHandle,
} from './file-system.js';
import { fsError } from './file-system.js';
import { syncfs, syncfsAvailable } from './syncfs.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);
const writevAsync = promisify(fs.writev);
const fsyncAsync = promisify(fs.fsync);
const openAsync = promisify(fs.open);

/**
 * Reads up to this size are made synchronously: a small file just written is in the page
 * cache and is read in microseconds, while the trip through libuv's pool cost ~28 µs of the
 * event loop's time per read (10,000 small files hashed: 2 reads each, the second one seeing
 * the end). Larger reads stay async, and so do most reads of chunks (32 KiB to 512 KiB) when
 * a file is rebuilt from a local copy: a gigabyte of them from a cold disk would hold the
 * event loop for seconds.
 */
const SYNC_READ_BYTES = 64 * 1024;

/** Filesystems whose syncfs makes all their writes durable (statfs f_type magic numbers). */
const SYNCFS_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
]);

/**
 * A barrier is not opened while more than this much is waiting to be written back (the
 * machine's dirty and in-flight pages): syncfs would wait for all of it, a large copy under
 * way included, where an fsync per file writes only the batch.
 */
const BARRIER_MAX_DIRTY_BYTES = 256 * 1024 * 1024;

/** Bytes of the page cache waiting to be written back, from /proc/meminfo (0 if unknown). */
export function dirtyBytes(): number {
  let info: string;
  try {
    info = fs.readFileSync('/proc/meminfo', 'latin1');
  } catch {
    return 0;
  }
  let kib = 0;
  for (const match of info.matchAll(/^(?:Dirty|Writeback):\s+(\d+) kB$/gm)) kib += Number(match[1]);
  return kib * 1024;
}

/**
 * Stats are taken with `bigint: true`, for the times in whole nanoseconds: the doubles of
 * the plain call keep a quarter of a microsecond at best. Measured here, 20,000 lstats took
 * 52-62 ms plain and 56-67 ms so (with these conversions).
 */
const BIGINT = { bigint: true } as const;
const BIGINT_OR_NOTHING = { bigint: true, throwIfNoEntry: false } as const;

function toStat(stats: BigIntStats): Stat {
  let kind: StatKind = 'other';
  if (stats.isFile()) kind = 'file';
  else if (stats.isDirectory()) kind = 'dir';
  else if (stats.isSymbolicLink()) kind = 'symlink';
  const stat = {
    kind,
    size: Number(stats.size),
    // (Rounded, as the mtimes this agent sets read back a hair below: see decisions.md.)
    mtimeMs: Math.round(Number(stats.mtimeNs) / 1e6),
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs,
    ino: Number(stats.ino),
    mode: Number(stats.mode) & 0o777,
  };
  const special = kind === 'other' ? specialOf(stats) : undefined;
  return special ? { ...stat, special } : stat;
}

function specialOf(stats: BigIntStats): SpecialKind | undefined {
  if (stats.isFIFO()) return 'fifo';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'char-device';
  if (stats.isBlockDevice()) return 'block-device';
  return undefined;
}

export class NodeFileSystem implements FileSystem {
  constructor(private readonly barrierMaxDirtyBytes = BARRIER_MAX_DIRTY_BYTES) {}

  async lstat(path: string): Promise<Stat | undefined> {
    try {
      const stats = fs.lstatSync(path, BIGINT_OR_NOTHING);
      return stats ? toStat(stats) : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  async readdir(path: string): Promise<string[]> {
    return fs.readdirSync(path);
  }

  /**
   * Decodes names as readdir does, and only when one came out with U+FFFD (the decoder's
   * mark for bytes that are not UTF-8, or a name that really holds one) reads the folder
   * again as bytes to tell which: a folder of valid names costs one readdir, as before.
   */
  async readNames(path: string): Promise<FolderNames> {
    const names = fs.readdirSync(path);
    if (!names.some((name) => name.includes('\uFFFD'))) return { names, undecodable: [] };
    const out: FolderNames = { names: [], undecodable: [] };
    for (const raw of fs.readdirSync(path, { encoding: 'buffer' })) {
      try {
        out.names.push(strictUtf8.decode(raw));
      } catch {
        out.undecodable.push(raw);
      }
    }
    return out;
  }

  async readlink(path: string): Promise<string> {
    return fs.readlinkSync(path);
  }

  async openRead(path: string): Promise<ReadHandle> {
    // Only a regular file is opened: a pipe would block the open until a writer came, a
    // device can act on being opened. The lstat says what is there; O_NONBLOCK keeps a pipe
    // put there since from blocking the open, and the fstat refuses it after all.
    // O_NOFOLLOW: never read through a link that replaced the file since it was scanned.
    const before = fs.lstatSync(path);
    if (before.isSymbolicLink()) throw fsError('ELOOP', 'open', path);
    if (before.isDirectory()) throw fsError('EISDIR', 'open', path);
    if (!before.isFile()) throw fsError('EINVAL', 'open (not a regular file)', path);
    const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw fsError('EINVAL', 'open (not a regular file)', path);
    }
    return {
      read: async (buffer, offset, length, position) =>
        length <= SYNC_READ_BYTES
          ? fs.readSync(fd, buffer, offset, length, position)
          : (await readAsync(fd, buffer, offset, length, position)).bytesRead,
      stat: async () => toStat(fs.fstatSync(fd, BIGINT)),
      close: async () => fs.closeSync(fd),
    };
  }

  async createWrite(path: string, mode: number): Promise<WriteHandle> {
    const fd = await openAsync(
      path,
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
      mode,
    );
    const writeOne = async (data: Uint8Array, position: number) => {
      for (let done = 0; done < data.length;) {
        done += (await writeAsync(fd, data, done, data.length - done, position + done))
          .bytesWritten;
      }
    };
    // Parts go in one vectored write: one trip to libuv's threads, not one per part.
    const writeAt = async (data: Uint8Array | readonly Uint8Array[], position: number) => {
      if (data instanceof Uint8Array) return writeOne(data, position);
      if (data.length === 1) return writeOne(data[0]!, position);
      const size = data.reduce((n, part) => n + part.length, 0);
      let done = (await writevAsync(fd, data as Uint8Array[], position)).bytesWritten;
      // A short vectored write: the rest part by part.
      for (let at = 0, k = 0; done < size; at += data[k]!.length, k++) {
        const part = data[k]!;
        if (at + part.length <= done) continue;
        const from = done - at;
        await writeOne(part.subarray(from), position + done);
        done += part.length - from;
      }
    };
    let end = 0;
    return {
      write: async (data) => {
        const position = end;
        end += data.length;
        await writeOne(data, position);
      },
      writeAt,
      // On the descriptor, not the path: no lookup, and no chance of reaching another file.
      setMeta: async (mode, mtimeMs) => {
        // Most files already have their mode from the open (less the umask): skip the call.
        if ((fs.fstatSync(fd).mode & 0o777) !== mode) fs.fchmodSync(fd, mode);
        const time = new Date(mtimeMs);
        fs.futimesSync(fd, time, time);
      },
      stat: async () => toStat(fs.fstatSync(fd, BIGINT)),
      sync: () => fsyncAsync(fd),
      close: async () => fs.closeSync(fd),
    };
  }

  async rename(from: string, to: string): Promise<void> {
    fs.renameSync(from, to);
  }

  async unlink(path: string): Promise<void> {
    fs.unlinkSync(path);
  }

  async rmdir(path: string): Promise<void> {
    fs.rmdirSync(path);
  }

  async mkdir(path: string): Promise<void> {
    fs.mkdirSync(path, 0o700);
  }

  async chmod(path: string, mode: number): Promise<void> {
    // (Linux has no lchmod: the lstat just before keeps a link from being followed, and the
    // caller checked the path moments ago.)
    if (fs.lstatSync(path).isSymbolicLink()) throw fsError('ELOOP', 'chmod', path);
    fs.chmodSync(path, mode & 0o777);
  }

  async symlink(target: string, path: string): Promise<void> {
    fs.symlinkSync(target, path);
  }

  async syncDir(path: string): Promise<void> {
    const fd = fs.openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await fsyncAsync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  async openBarrier(path: string): Promise<Barrier | undefined> {
    // Only where syncfs is known to write and wait for everything; elsewhere (network and
    // FUSE filesystems, say) each file is fsynced, which reaches their own fsync.
    if (!syncfsAvailable || !SYNCFS_FILESYSTEMS.has(fs.statfsSync(path).type)) return undefined;
    if (dirtyBytes() > this.barrierMaxDirtyBytes) return undefined;
    // Write-back errors are reported to descriptors opened before them: this one is opened
    // first, so an error in writing back any file written after it reaches `flush`.
    const fd = fs.openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    return {
      flush: () => syncfs(fd, path),
      close: async () => fs.closeSync(fd),
    };
  }

  async freeSpace(path: string): Promise<number | undefined> {
    const stats = await fs.promises.statfs(path);
    return stats.bavail * stats.bsize;
  }

  removeTree(path: string): Promise<void> {
    return fs.promises.rm(path, { recursive: true, force: true });
  }

  /** Creates a lower-case probe file in `path` and looks it up in upper case. */
  async caseInsensitive(path: string): Promise<boolean> {
    const name = `case-probe-${process.pid}-${Date.now().toString(36)}`;
    const probe = `${path}/${name}`;
    await fs.promises.writeFile(probe, '', { flag: 'wx' });
    try {
      return fs.lstatSync(`${path}/${name.toUpperCase()}`, { throwIfNoEntry: false }) !== undefined;
    } finally {
      await fs.promises.unlink(probe);
    }
  }
}

/** One contract, every FileSystem: the real one and the in-memory one behave alike. */
import { statfsSync } from 'node:fs';
import { mkdtemp, open, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorCode, readWholeFile, type FileSystem } from '../../src/fs/file-system.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';
import { dirtyBytes, NodeFileSystem } from '../../src/fs/node-file-system.js';
import { syncfs, syncfsAvailable } from '../../src/fs/syncfs.js';

async function write(fs: FileSystem, path: string, text: string, mode = 0o644) {
  const handle = await fs.createWrite(path, mode);
  await handle.write(Buffer.from(text));
  await handle.sync();
  await handle.close();
}

async function failsWith(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}

/** What a person does to a file outside the agent, as `printf > file` and `touch -d` do. */
interface User {
  /** Truncates the file and writes `text` in its place (same inode). */
  rewrite(path: string, text: string): Promise<void>;
  /** Sets the file's mtime (ms). */
  utimes(path: string, mtimeMs: number): Promise<void>;
}

/** Long enough for any filesystem clock to move (Linux's coarse one moves every jiffy). */
const tick = () => new Promise((resolve) => setTimeout(resolve, 15));

function fileSystemContract(
  name: string,
  open: () => Promise<{ fs: FileSystem; root: string; cleanup: () => Promise<void>; user: User }>,
) {
  describe(`FileSystem contract: ${name}`, () => {
    let fs: FileSystem;
    let root: string;
    let cleanup: () => Promise<void>;
    let user: User;
    afterEach(async () => cleanup());
    const setup = async () => ({ fs, root, cleanup, user } = await open());

    it("moves a file's ctime on every write, chmod, utimes and rename, and on nothing else", async () => {
      await setup();
      const handle = await fs.createWrite(`${root}/c`, 0o644);
      await handle.write(Buffer.from('one'));
      const created = await handle.stat();
      expect(created.ctimeNs).toBeGreaterThan(0n);
      await tick();
      await handle.write(Buffer.from('two'));
      const written = await handle.stat();
      expect(written.ctimeNs).toBeGreaterThan(created.ctimeNs);
      await tick();
      await handle.setMeta(0o755, 1_600_000_000_000);
      const meta = await handle.stat();
      expect(meta.ctimeNs).toBeGreaterThan(written.ctimeNs);
      expect(meta.mtimeNs).toBe(1_600_000_000_000_000_000n);
      await handle.close();
      // Reading and looking change nothing.
      expect(await fs.lstat(`${root}/c`)).toEqual(meta);
      expect((await readWholeFile(fs, `${root}/c`)).toString()).toBe('onetwo');
      expect(await fs.lstat(`${root}/c`)).toEqual(meta);
      await tick();
      await fs.rename(`${root}/c`, `${root}/d`);
      const renamed = (await fs.lstat(`${root}/d`))!;
      expect(renamed.ctimeNs).toBeGreaterThan(meta.ctimeNs);
      expect({ ...renamed, ctimeNs: 0n }).toEqual({ ...meta, ctimeNs: 0n });
    });

    it('shows a rewrite of the same size with its mtime put back by its ctime alone', async () => {
      await setup();
      await write(fs, `${root}/same.txt`, 'AAAAAAAA\n');
      const before = (await fs.lstat(`${root}/same.txt`))!;
      await tick();
      await user.rewrite(`${root}/same.txt`, 'BBBBBBBB\n');
      await user.utimes(`${root}/same.txt`, before.mtimeMs);
      const after = (await fs.lstat(`${root}/same.txt`))!;
      expect(after).toMatchObject({ ino: before.ino, size: before.size, mtimeMs: before.mtimeMs });
      expect(after.ctimeNs).toBeGreaterThan(before.ctimeNs);
      expect((await readWholeFile(fs, `${root}/same.txt`)).toString()).toBe('BBBBBBBB\n');
      // And a touch alone moves both times.
      await tick();
      await user.utimes(`${root}/same.txt`, 1_500_000_000_000);
      const touched = (await fs.lstat(`${root}/same.txt`))!;
      expect(touched.mtimeMs).toBe(1_500_000_000_000);
      expect(touched.ctimeNs).toBeGreaterThan(after.ctimeNs);
    });

    it('creates, reads and stats files; lstat of nothing is undefined', async () => {
      await setup();
      await write(fs, `${root}/a.txt`, 'hello', 0o755);
      const stat = await fs.lstat(`${root}/a.txt`);
      expect(stat).toMatchObject({ kind: 'file', size: 5 });
      expect(stat!.mode & 0o111).not.toBe(0);
      expect((await readWholeFile(fs, `${root}/a.txt`)).toString()).toBe('hello');
      expect(await fs.lstat(`${root}/missing`)).toBeUndefined();
      expect(await fs.lstat(`${root}/a.txt/below-a-file`)).toBeUndefined();
    });

    it('writes at positions, in any order and concurrently', async () => {
      await setup();
      const handle = await fs.createWrite(`${root}/p`, 0o644);
      await Promise.all([
        handle.writeAt(Buffer.from('world'), 6),
        handle.writeAt(Buffer.from('hello '), 0),
        handle.writeAt(Buffer.from('!'), 11),
      ]);
      await handle.sync();
      await handle.close();
      expect((await readWholeFile(fs, `${root}/p`)).toString()).toBe('hello world!');
    });

    it('writes parts one after another at a position, however many there are', async () => {
      await setup();
      const handle = await fs.createWrite(`${root}/v`, 0o644);
      // More parts than one vectored write takes (IOV_MAX is 1024 on Linux).
      const parts = Array.from({ length: 1500 }, (_, i) => Buffer.from(`${i % 10}`.repeat(3)));
      await Promise.all([
        handle.writeAt([Buffer.from('ab'), Buffer.from('cd')], 0),
        handle.writeAt(parts, 4),
      ]);
      await handle.close();
      expect((await readWholeFile(fs, `${root}/v`)).toString()).toBe(
        `abcd${Buffer.concat(parts).toString()}`,
      );
    });

    it("sets a new file's mode and mtime through its handle, which stats it as renamed", async () => {
      await setup();
      const handle = await fs.createWrite(`${root}/t`, 0o644);
      await handle.write(Buffer.from('data'));
      await handle.setMeta(0o755, 1_600_000_000_123);
      await handle.sync();
      const stat = await handle.stat();
      await handle.close();
      expect(stat).toMatchObject({
        kind: 'file',
        size: 4,
        mode: 0o755,
        mtimeMs: 1_600_000_000_123,
      });
      await fs.rename(`${root}/t`, `${root}/u`);
      // (The rename moves the ctime, and nothing else.)
      expect(await fs.lstat(`${root}/u`)).toEqual({
        ...stat,
        ctimeNs: (await fs.lstat(`${root}/u`))!.ctimeNs,
      });
      // And back to the mode a file is created with.
      const plain = await fs.createWrite(`${root}/p`, 0o755);
      await plain.setMeta(0o644, 1_600_000_000_000);
      expect(await plain.stat()).toMatchObject({ mode: 0o644, mtimeMs: 1_600_000_000_000 });
      await plain.close();
    });

    it('makes folders 0o700 at most, and chmod sets exact modes of files and folders, not links', async () => {
      await setup();
      await fs.mkdir(`${root}/d`);
      // (0o700 less the umask: never wider.)
      expect((await fs.lstat(`${root}/d`))!.mode & ~0o700).toBe(0);
      await fs.chmod(`${root}/d`, 0o751);
      expect((await fs.lstat(`${root}/d`))!.mode).toBe(0o751);
      await write(fs, `${root}/d/key`, 'secret');
      const before = (await fs.lstat(`${root}/d/key`))!;
      await tick();
      await fs.chmod(`${root}/d/key`, 0o600);
      const after = (await fs.lstat(`${root}/d/key`))!;
      expect(after.mode).toBe(0o600);
      expect(after.ino).toBe(before.ino);
      expect(after.mtimeNs).toBe(before.mtimeNs);
      expect(after.ctimeNs).toBeGreaterThan(before.ctimeNs);
      await fs.chmod(`${root}/d/key`, 0o4755);
      expect((await fs.lstat(`${root}/d/key`))!.mode).toBe(0o755);
      await fs.symlink('key', `${root}/d/link`);
      expect(await failsWith(fs.chmod(`${root}/d/link`, 0o777))).toBe('ELOOP');
      expect((await fs.lstat(`${root}/d/key`))!.mode).toBe(0o755);
      expect(await failsWith(fs.chmod(`${root}/d/none`, 0o600))).toBe('ENOENT');
    });

    it('refuses to create over an existing file', async () => {
      await setup();
      await write(fs, `${root}/a`, '1');
      expect(await failsWith(fs.createWrite(`${root}/a`, 0o644))).toBe('EEXIST');
    });

    it('renames atomically over a file, keeping the inode of the source', async () => {
      await setup();
      await write(fs, `${root}/new`, 'new');
      await write(fs, `${root}/old`, 'old');
      const ino = (await fs.lstat(`${root}/new`))!.ino;
      await fs.rename(`${root}/new`, `${root}/old`);
      expect((await readWholeFile(fs, `${root}/old`)).toString()).toBe('new');
      expect((await fs.lstat(`${root}/old`))!.ino).toBe(ino);
      expect(await fs.lstat(`${root}/new`)).toBeUndefined();
    });

    it('renames folders with their contents', async () => {
      await setup();
      await fs.mkdir(`${root}/d`);
      await write(fs, `${root}/d/x`, 'x');
      await fs.rename(`${root}/d`, `${root}/e`);
      expect((await readWholeFile(fs, `${root}/e/x`)).toString()).toBe('x');
      expect(await fs.readdir(`${root}/e`)).toEqual(['x']);
    });

    it('refuses to remove a folder that is not empty', async () => {
      await setup();
      await fs.mkdir(`${root}/d`);
      await write(fs, `${root}/d/x`, 'x');
      expect(await failsWith(fs.rmdir(`${root}/d`))).toBe('ENOTEMPTY');
      await fs.unlink(`${root}/d/x`);
      await fs.rmdir(`${root}/d`);
      expect(await fs.lstat(`${root}/d`)).toBeUndefined();
    });

    it('keeps links as links: lstat does not follow, reading through a final link fails', async () => {
      await setup();
      await write(fs, `${root}/target`, 'secret');
      await fs.symlink('target', `${root}/link`);
      expect((await fs.lstat(`${root}/link`))!.kind).toBe('symlink');
      expect(await fs.readlink(`${root}/link`)).toBe('target');
      expect(await failsWith(fs.openRead(`${root}/link`))).toBe('ELOOP');
      await fs.unlink(`${root}/link`);
      expect((await fs.lstat(`${root}/target`))!.kind).toBe('file');
    });

    it('opens a barrier on a folder, or says there is none; a missing folder is an error', async () => {
      await setup();
      await fs.mkdir(`${root}/tmp`);
      const barrier = await fs.openBarrier(`${root}/tmp`);
      if (barrier) {
        await write(fs, `${root}/tmp/a`, 'x');
        await barrier.flush();
        await fs.rename(`${root}/tmp/a`, `${root}/a`);
        await barrier.flush();
        await barrier.close();
      }
      expect(await failsWith(fs.openBarrier(`${root}/missing`))).toBe('ENOENT');
    });

    it('says how much space is free, or that it cannot say; a missing folder is an error', async () => {
      await setup();
      const free = await fs.freeSpace(root);
      if (free !== undefined) {
        expect(Number.isSafeInteger(free) && free >= 0).toBe(true);
        await write(fs, `${root}/f`, 'x'.repeat(4096));
        expect(await fs.freeSpace(root)).toBeLessThanOrEqual(free);
      }
      expect(await failsWith(fs.freeSpace(`${root}/missing`))).toBe('ENOENT');
    });

    it('says whether names differ by case, and behaves as it says', async () => {
      await setup();
      const insensitive = await fs.caseInsensitive(root);
      await write(fs, `${root}/Notes.txt`, 'first');
      expect(await fs.readdir(root)).toEqual(['Notes.txt']);
      if (insensitive) {
        // One file under any spelling, which keeps the spelling it was made with.
        expect((await fs.lstat(`${root}/notes.TXT`))?.kind).toBe('file');
        expect(await failsWith(fs.createWrite(`${root}/notes.txt`, 0o644))).toBe('EEXIST');
        expect(await failsWith(fs.mkdir(`${root}/NOTES.txt`))).toBe('EEXIST');
        await fs.rename(`${root}/Notes.txt`, `${root}/notes.txt`);
        expect(await fs.readdir(root)).toEqual(['notes.txt']);
        expect((await readWholeFile(fs, `${root}/NOTES.TXT`)).toString()).toBe('first');
        await fs.mkdir(`${root}/Dir`);
        await write(fs, `${root}/dir/inside`, 'x');
        expect(await fs.readdir(`${root}/DIR`)).toEqual(['inside']);
      } else {
        expect(await fs.lstat(`${root}/notes.txt`)).toBeUndefined();
        await write(fs, `${root}/notes.txt`, 'second');
        expect((await fs.readdir(root)).sort()).toEqual(['Notes.txt', 'notes.txt']);
        expect((await readWholeFile(fs, `${root}/Notes.txt`)).toString()).toBe('first');
      }
      // The probe leaves nothing behind.
      expect((await fs.readdir(root)).some((n) => /probe/i.test(n))).toBe(false);
    });
  });
}

describe('syncfs', () => {
  // The native module is built by `npm install`; without it, big batches of downloads fall
  // back to an fsync per file, which works but costs a second in 10,000 small files.
  it.runIf(process.platform === 'linux')('is built, and reports failures as errors', async () => {
    expect(syncfsAvailable).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'tandem-syncfs-'));
    const handle = await open(dir, 'r');
    try {
      await syncfs(handle.fd, dir);
    } finally {
      await handle.close();
      await rm(dir, { recursive: true });
    }
    await expect(syncfs(-1, dir)).rejects.toMatchObject({ code: 'EBADF', syscall: 'syncfs' });
  });

  it('is used for folders on ext4 here (the benchmark and tests run on one)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-syncfs-'));
    const ext4 = statfsSync(dir).type === 0xef53;
    const barrier = await new NodeFileSystem().openBarrier(dir);
    await barrier?.close();
    await rm(dir, { recursive: true });
    expect(barrier !== undefined).toBe(ext4 && syncfsAvailable);
  });

  it('is not used while much is waiting to be written back (it would wait for all of it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-syncfs-'));
    expect(dirtyBytes()).toBeGreaterThanOrEqual(0);
    // (A limit below anything /proc/meminfo can say.)
    expect(await new NodeFileSystem(-1).openBarrier(dir)).toBeUndefined();
    await rm(dir, { recursive: true });
  });
});

const memoryUser = (fs: MemoryFileSystem): User => ({
  rewrite: (path, text) => fs.writeFile(path, text),
  utimes: (path, mtimeMs) => fs.utimes(path, mtimeMs),
});
fileSystemContract('memory', async () => {
  const fs = new MemoryFileSystem();
  await fs.mkdir('/root');
  return { fs, root: '/root', cleanup: async () => {}, user: memoryUser(fs) };
});
fileSystemContract('memory, case-insensitive', async () => {
  const fs = new MemoryFileSystem(Date.now, { caseInsensitive: true });
  await fs.mkdir('/root');
  return { fs, root: '/root', cleanup: async () => {}, user: memoryUser(fs) };
});
fileSystemContract('memory, with a capacity', async () => {
  const fs = new MemoryFileSystem();
  fs.capacity = 1 << 20;
  await fs.mkdir('/root');
  return { fs, root: '/root', cleanup: async () => {}, user: memoryUser(fs) };
});
fileSystemContract('node', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-fs-'));
  return {
    fs: new NodeFileSystem(),
    root,
    cleanup: () => rm(root, { recursive: true, force: true }),
    user: {
      rewrite: (path, text) => writeFile(path, text),
      utimes: (path, mtimeMs) => utimes(path, new Date(mtimeMs), new Date(mtimeMs)),
    },
  };
});

describe('a full in-memory disk', () => {
  it('refuses a write past its capacity with ENOSPC, writing nothing, and frees space on unlink', async () => {
    const fs = new MemoryFileSystem();
    fs.capacity = 10;
    await fs.mkdir('/d');
    const handle = await fs.createWrite('/d/a', 0o644);
    await handle.writeAt(Buffer.from('12345678'), 0);
    expect(await fs.freeSpace('/d')).toBe(2);
    expect(await failsWith(handle.writeAt(Buffer.from('abc'), 8))).toBe('ENOSPC');
    expect((await handle.stat()).size).toBe(8);
    await handle.writeAt(Buffer.from('ab'), 8);
    await handle.close();
    expect(await fs.freeSpace('/d')).toBe(0);
    await fs.unlink('/d/a');
    expect(await fs.freeSpace('/d')).toBe(10);
  });
});

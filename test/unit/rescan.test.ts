/** Incremental scans from watcher hints (regressions named after the bugs they pin down). */
import { describe, expect, it } from 'vitest';
import { rescanPaths, scanTree, type ScanOptions } from '../../src/agent/scanner.js';
import type { HashRecord } from '../../src/agent/state-store.js';
import type { Entry } from '../../src/core/entry.js';
import { makeIgnoreMatcher } from '../../src/core/ignore.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';

async function world() {
  let clock = 1_000_000;
  const now = () => (clock += 100);
  const fs = new MemoryFileSystem(now);
  await fs.mkdir('/root');
  const hashes = new Map<string, HashRecord>();
  const options: ScanOptions = {
    fs,
    root: '/root',
    isIgnored: makeIgnoreMatcher(),
    hashes,
    setHash: (path, record) => (record ? hashes.set(path, record) : hashes.delete(path)),
    now,
  };
  return { fs, options };
}

describe('rescanPaths', () => {
  it('sees a change at a hinted path and keeps the rest of the last scan', async () => {
    const { fs, options } = await world();
    await fs.writeFile('/root/a.txt', 'a');
    await fs.writeFile('/root/b.txt', 'b');
    const first = await scanTree(options);
    await fs.writeFile('/root/a.txt', 'changed');
    await fs.unlink('/root/b.txt'); // not hinted: the last scan still counts
    const next = await rescanPaths(options, first, new Set(['a.txt']));
    expect(next.local.get('a.txt')?.entry).not.toEqual(first.local.get('a.txt')?.entry);
    expect(next.local.has('b.txt')).toBe(true);
  });

  it('hint below a folder the last scan never saw is not dropped: the new folder is walked', async () => {
    const { fs, options } = await world();
    const first = await scanTree(options);
    await fs.mkdir('/root/d');
    await fs.mkdir('/root/d/e');
    await fs.writeFile('/root/d/e/f.txt', 'deep');
    await fs.writeFile('/root/d/g.txt', 'sibling');
    const next = await rescanPaths(options, first, new Set(['d/e/f.txt']));
    expect([...next.local.keys()].sort()).toEqual(['d', 'd/e', 'd/e/f.txt', 'd/g.txt']);
  });

  it('sees both halves of a folder moved into a new folder when only the new one is hinted', async () => {
    // mkdir archive; mv projects archive/projects-2026: the event for "archive" can start a
    // round before the one for "projects" arrives. The walk of the new folder finds the moved
    // one, whose inode tells that "projects" must be looked at too (it is gone).
    const { fs, options } = await world();
    await fs.mkdir('/root/projects');
    await fs.writeFile('/root/projects/main.c', 'int main;');
    await fs.writeFile('/root/notes.txt', 'kept');
    const first = await scanTree(options);
    await fs.mkdir('/root/archive');
    await fs.rename('/root/projects', '/root/archive/projects-2026');
    const next = await rescanPaths(options, first, new Set(['archive']));
    expect([...next.local.keys()].sort()).toEqual([
      'archive',
      'archive/projects-2026',
      'archive/projects-2026/main.c',
      'notes.txt',
    ]);
    expect(next.local.get('archive/projects-2026')?.ino).toBe(first.local.get('projects')?.ino);
  });

  it('forgets a hinted folder that was deleted, with everything below it', async () => {
    const { fs, options } = await world();
    await fs.mkdir('/root/d');
    await fs.writeFile('/root/d/x', 'x');
    const first = await scanTree(options);
    await fs.unlink('/root/d/x');
    await fs.rmdir('/root/d');
    const next = await rescanPaths(options, first, new Set(['d']));
    expect(next.local.size).toBe(0);
  });
  it("holds an unchanged file's entry as the known one, and a changed file's as its own", async () => {
    const { fs, options } = await world();
    await fs.writeFile('/root/same.txt', 'same');
    await fs.writeFile('/root/touched.txt', 'touched');
    const first = await scanTree(options);
    const known = new Map(first.local);
    // What the base holds for touched.txt differs only in its mtime: not the same entry.
    const touched = first.local.get('touched.txt')!;
    known.set('touched.txt', { ...touched, entry: { ...touched.entry, mtime: 1 } as Entry });
    const next = await scanTree({ ...options, known });
    expect(next.local.get('same.txt')!.entry).toBe(known.get('same.txt')!.entry);
    expect(next.local.get('touched.txt')!.entry).not.toBe(known.get('touched.txt')!.entry);
    expect(next.local.get('touched.txt')!.entry).toEqual(touched.entry);
  });
});

describe('rescanPaths and names spelled otherwise on disk', () => {
  const NFD = 'cafe\u0301';
  const NFC = 'caf\u00e9';

  it('takes a watcher hint in NFD under its NFC path, spelled as on disk', async () => {
    const { fs, options } = await world();
    const first = await scanTree(options);
    await fs.mkdir(`/root/${NFD}`);
    await fs.writeFile(`/root/${NFD}/${NFD}.txt`, 'x');
    const next = await rescanPaths(options, first, new Set([`${NFD}/${NFD}.txt`]));
    expect([...next.local.keys()].sort()).toEqual([NFC, `${NFC}/${NFC}.txt`]);
    expect(next.spellings.toDisk(`${NFC}/${NFC}.txt`)).toBe(`${NFD}/${NFD}.txt`);
    expect(next.problems).toEqual([]);
  });

  it("finds a hinted NFC path where the disk has it in NFD (the executor's hints)", async () => {
    const { fs, options } = await world();
    await fs.writeFile(`/root/${NFD}.txt`, 'v1');
    const first = await scanTree(options);
    expect(first.spellings.get(`${NFC}.txt`)).toBe(`${NFD}.txt`);
    await fs.writeFile(`/root/${NFD}.txt`, 'v2, longer');
    const next = await rescanPaths(
      { ...options, spellings: first.spellings },
      first,
      new Set([`${NFC}.txt`]),
    );
    expect(next.local.get(`${NFC}.txt`)?.entry).toMatchObject({ size: 10 });
    expect(next.spellings.get(`${NFC}.txt`)).toBe(`${NFD}.txt`);
  });

  it('finds a collision in a rescan, and keeps the name that is the path', async () => {
    const { fs, options } = await world();
    await fs.writeFile(`/root/${NFD}.txt`, 'decomposed');
    const first = await scanTree(options);
    await fs.writeFile(`/root/${NFC}.txt`, 'composed');
    const next = await rescanPaths(options, first, new Set([`${NFC}.txt`]));
    expect(next.collisions).toEqual([{ path: `${NFC}.txt`, disk: `${NFD}.txt` }]);
    expect(next.spellings.size).toBe(0);
    expect(next.local.get(`${NFC}.txt`)?.entry).toMatchObject({ size: 8 });
  });

  it('widens a hint with U+FFFD (a name that is not UTF-8) to its folder, and reports it', async () => {
    const { fs, options } = await world();
    await fs.mkdir('/root/d');
    const first = await scanTree(options);
    await fs.writeFile('/root/d/bad\udcff.txt', 'x');
    // (The watcher decodes the name as a string would: the byte becomes U+FFFD.)
    const next = await rescanPaths(options, first, new Set(['d/bad\ufffd.txt']));
    expect(next.problems).toEqual([
      { path: 'd/bad\\xff.txt', message: expect.stringMatching(/not valid UTF-8/) },
    ]);
    expect([...next.local.keys()]).toEqual(['d']);
    await fs.rename('/root/d/bad\udcff.txt', '/root/d/good.txt');
    const fixed = await rescanPaths(options, next, new Set(['d/bad\ufffd.txt', 'd/good.txt']));
    expect(fixed.problems).toEqual([]);
    expect([...fixed.local.keys()].sort()).toEqual(['d', 'd/good.txt']);
  });
});

/**
 * Change detection that mtime cannot fool (issue 18), on the in-memory filesystem, whose
 * ctime moves as the kernel's does. Regressions are named after the bug they pin down.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { rescanPaths, scanTree, type ScanOptions } from '../../src/agent/scanner.js';
import type { HashRecord } from '../../src/agent/state-store.js';
import type { FileEntry } from '../../src/core/entry.js';
import { makeIgnoreMatcher } from '../../src/core/ignore.js';
import type { FileSystem } from '../../src/fs/file-system.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';
import type { WorkspaceInfo } from '../../src/protocol/api.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

async function world(wrap: (fs: MemoryFileSystem) => FileSystem = (fs) => fs) {
  let clock = 1_000_000;
  const now = () => (clock += 100);
  const memory = new MemoryFileSystem(now);
  await memory.mkdir('/root');
  const hashes = new Map<string, HashRecord>();
  const options: ScanOptions = {
    fs: wrap(memory),
    root: '/root',
    isIgnored: makeIgnoreMatcher(),
    hashes,
    setHash: (path, record) => (record ? hashes.set(path, record) : hashes.delete(path)),
    now,
  };
  return { fs: memory, options };
}

const userFiles = (snapshot: Map<string, unknown>) =>
  [...snapshot.keys()].filter((p) => p !== '.tandem' && !p.startsWith('.tandem/'));

const contentOf = (scan: Awaited<ReturnType<typeof scanTree>>, path: string) =>
  (scan.local.get(path)?.entry as FileEntry | undefined)?.contentId;

/** `printf 'BBBBBBBB\n' > same.txt; touch -r ref same.txt`: same inode, size and mtime. */
async function rewriteKeepingSizeAndMtime(fs: MemoryFileSystem, path: string) {
  const { mtimeMs, size, ino } = (await fs.lstat(path))!;
  await fs.writeFile(path, 'B'.repeat(size - 1) + '\n');
  await fs.utimes(path, mtimeMs);
  expect(await fs.lstat(path)).toMatchObject({ mtimeMs, size, ino });
}

describe('a rewrite that keeps size and mtime is lost (issue 18)', () => {
  it('is hashed again by a full scan (made while the agent was stopped)', async () => {
    const { fs, options } = await world();
    await fs.writeFile('/root/same.txt', 'AAAAAAAA\n');
    const first = await scanTree(options);
    await rewriteKeepingSizeAndMtime(fs, '/root/same.txt');
    const next = await scanTree(options);
    expect(contentOf(next, 'same.txt')).toBeDefined();
    expect(contentOf(next, 'same.txt')).not.toBe(contentOf(first, 'same.txt'));
  });

  it('is hashed again for a watcher event (made while the agent ran)', async () => {
    const { fs, options } = await world();
    await fs.writeFile('/root/same.txt', 'AAAAAAAA\n');
    const first = await scanTree(options);
    await rewriteKeepingSizeAndMtime(fs, '/root/same.txt');
    const next = await rescanPaths(options, first, new Set(['same.txt']));
    expect(contentOf(next, 'same.txt')).not.toBe(contentOf(first, 'same.txt'));
  });

  it('is not hashed again when nothing changed, nor when only its folder was renamed', async () => {
    const { fs, options } = await world();
    await fs.mkdir('/root/d');
    await fs.writeFile('/root/d/a.txt', 'a');
    await scanTree(options);
    let reads = 0;
    const openRead = fs.openRead.bind(fs);
    fs.openRead = (path) => (reads++, openRead(path));
    await scanTree(options);
    await fs.rename('/root/d', '/root/e');
    const moved = await scanTree(options);
    expect(reads).toBe(0);
    expect(moved.local.has('e/a.txt')).toBe(true);
  });

  it('waits for a file whose ctime is recent even when its mtime is old (cp -p under way)', async () => {
    let clock = 1_000_000;
    const fs = new MemoryFileSystem(() => clock);
    await fs.mkdir('/root');
    const hashes = new Map<string, HashRecord>();
    const options: ScanOptions = {
      fs,
      root: '/root',
      isIgnored: makeIgnoreMatcher(),
      hashes,
      setHash: (path, record) => (record ? hashes.set(path, record) : hashes.delete(path)),
      now: () => clock,
    };
    await fs.writeFile('/root/copy.txt', 'partial');
    await fs.utimes('/root/copy.txt', 500_000);
    clock += 5;
    const scan = await scanTree(options);
    expect(scan.unstable.has('copy.txt')).toBe(true);
    clock += 100;
    expect((await scanTree(options)).unstable.size).toBe(0);
  });

  it('on a filesystem that keeps no ctime, a watcher event is always hashed again', async () => {
    // (Some FUSE and network filesystems report 0.) A full scan has only inode, size and
    // mtime to go by there: see decisions.md.
    const noCtime = (memory: MemoryFileSystem): FileSystem =>
      new Proxy(memory, {
        get(target, key, receiver) {
          if (key !== 'lstat') return Reflect.get(target, key, receiver) as unknown;
          return async (path: string) => {
            const stat = await target.lstat(path);
            return stat && { ...stat, ctimeNs: 0n };
          };
        },
      });
    const { fs, options } = await world(noCtime);
    await fs.writeFile('/root/same.txt', 'AAAAAAAA\n');
    const first = await scanTree(options);
    await rewriteKeepingSizeAndMtime(fs, '/root/same.txt');
    const hinted = await rescanPaths(options, first, new Set(['same.txt']));
    expect(contentOf(hinted, 'same.txt')).not.toBe(contentOf(first, 'same.txt'));
  });
});

describe('two devices: what one agent writes is not sent back, touches travel', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clientA: HubClient;
  let ws: WorkspaceInfo;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);
  const headOf = async () => (await clientA.changes(ws.id, 0)).head;
  const sync = async (...devices: SimDevice[]) => {
    for (let i = 0; i < 3; i++) for (const d of devices) await d.engine.syncUntilIdle();
  };
  const mtimeOf = async (d: SimDevice, path: string) => (await d.fs.lstat(`${d.root}/${path}`))!;

  beforeEach(async () => {
    hub = await startSimHub(now);
    clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'desktop', false);
    ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now);
    b = await simDevice(hub, clientB, ws.id, 'desktop', now);
  });
  afterEach(async () => {
    await hub.close();
  });

  it('commits nothing back after a download, in hinted rounds and full scans', async () => {
    await a.fs.writeFile('/laptop/one.txt', 'one');
    await a.fs.writeFile('/laptop/two.txt', 'two');
    await sync(a);
    const head = await headOf();
    let reads = 0;
    const openRead = b.fs.openRead.bind(b.fs);
    b.fs.openRead = (path) => (path.endsWith('.txt') && reads++, openRead(path));
    await b.engine.syncUntilIdle();
    expect((await b.fs.readFile('/desktop/two.txt')).toString()).toBe('two');
    // Rounds on B that look at the files it wrote, hinted and in full: nothing to send.
    for (const hints of [['one.txt', 'two.txt'], undefined, ['one.txt'], undefined])
      expect((await b.engine.round(hints)).planned).toBe(0);
    expect(await headOf()).toBe(head);
    // Nor were they read to be hashed: the agent knows what it wrote, ctime after the rename.
    expect(reads).toBe(0);
  });

  it('sends a touch (same bytes, new mtime) and gives the other copy that mtime, once', async () => {
    await a.fs.writeFile('/laptop/notes.txt', 'same bytes');
    await sync(a, b);
    const head = await headOf();
    await a.fs.utimes('/laptop/notes.txt', Date.UTC(2020, 1, 3, 4, 5, 6, 789));
    await sync(a, b);
    expect((await mtimeOf(b, 'notes.txt')).mtimeMs).toBe(Date.UTC(2020, 1, 3, 4, 5, 6, 789));
    expect((await b.fs.readFile('/desktop/notes.txt')).toString()).toBe('same bytes');
    expect(await headOf()).toBe(head + 1);
    await sync(b, a);
    expect(await headOf()).toBe(head + 1);
  });

  it('two devices touching the same file: the hub keeps the first, no conflicted copy', async () => {
    await a.fs.writeFile('/laptop/notes.txt', 'same bytes');
    await sync(a, b);
    await a.fs.utimes('/laptop/notes.txt', Date.UTC(2020, 0, 1));
    await b.fs.utimes('/desktop/notes.txt', Date.UTC(2021, 0, 1));
    await sync(a);
    await sync(b, a);
    expect((await mtimeOf(a, 'notes.txt')).mtimeMs).toBe(Date.UTC(2020, 0, 1));
    expect((await mtimeOf(b, 'notes.txt')).mtimeMs).toBe(Date.UTC(2020, 0, 1));
    expect(await a.fs.snapshot('/laptop')).toEqual(await b.fs.snapshot('/desktop'));
    expect(userFiles(await b.fs.snapshot('/desktop'))).toEqual(['notes.txt']);
  });

  it('a rewrite with size and mtime put back, then an edit on the other device: a conflicted copy', async () => {
    await a.fs.writeFile('/laptop/same.txt', 'AAAAAAAA\n');
    await sync(a, b);
    await rewriteKeepingSizeAndMtime(a.fs, '/laptop/same.txt');
    await b.fs.writeFile('/desktop/same.txt', 'edited on B\n');
    await sync(a);
    await sync(b, a);
    const names = [...(await a.fs.snapshot('/laptop')).entries()]
      .filter(([p, v]) => v.kind === 'file' && !p.startsWith('.tandem'))
      .map(([, v]) => v.data)
      .sort();
    expect(names).toEqual(['BBBBBBBB\n', 'edited on B\n']);
    expect(await a.fs.snapshot('/laptop')).toEqual(await b.fs.snapshot('/desktop'));
  });

  it('an edit on one device wins over a touch on the other, with no conflicted copy', async () => {
    await a.fs.writeFile('/laptop/notes.txt', 'v1');
    await sync(a, b);
    await a.fs.utimes('/laptop/notes.txt', Date.UTC(2020, 0, 1));
    await b.fs.writeFile('/desktop/notes.txt', 'v2 from B');
    await sync(b);
    await sync(a, b);
    for (const d of [a, b]) {
      expect(userFiles(await d.fs.snapshot(d.root))).toEqual(['notes.txt']);
      expect((await d.fs.readFile(`${d.root}/notes.txt`)).toString()).toBe('v2 from B');
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/entry.js';
import type { ChunkId, ContentId } from '../../src/core/ids.js';
import { StateStore } from '../../src/agent/state-store.js';
import type { JournalRow } from '../../src/protocol/api.js';

const id = (c: string) => c.repeat(64);
const file = (c: string, mtime = 1000): Entry => ({
  kind: 'file',
  contentId: id(c) as ContentId,
  size: 3,
  executable: false,
  mode: 0o644,
  mtime,
});

const put = (seq: number, path: string, entry: Entry): JournalRow => ({
  seq,
  op: 'put',
  path,
  entry,
  node: seq,
  base: 0,
  device: null,
  user: null,
  time: 0,
});

describe('state store', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reads back what it wrote, whichever tables hold a path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-state-'));
    dirs.push(dir);
    const db = join(dir, 'state.db');
    const store = new StateStore(db);
    store.applyChanges({
      head: 3,
      more: false,
      snapshot: [
        { path: 'd', entry: { kind: 'dir', mode: 0o755 }, seq: 1, node: 1 },
        { path: 'd/same', entry: file('a'), seq: 2, node: 2 },
        { path: 'd/differs', entry: file('b', 2000), seq: 3, node: 3 },
        { path: 'remote-only', entry: { kind: 'symlink', target: '../x' }, seq: 3, node: 4 },
      ],
    });
    store.batch(() => {
      store.setBase('d', { entry: { kind: 'dir', mode: 0o755 }, seq: 1, node: 1, ino: 10 });
      store.setBase('d/same', { entry: file('a'), seq: 2, node: 2, ino: 11 });
      store.setBase('d/differs', { entry: file('c'), seq: 1, node: 3, ino: 12 });
      store.setBase('base-only', { entry: file('d'), seq: 1, node: 5, ino: 13 });
    });
    const chunks = [
      { id: id('e') as ChunkId, size: 1 },
      { id: id('f') as ChunkId, size: 2 },
    ];
    store.setHash('d/same', {
      ino: 11,
      size: 3,
      mtimeNs: 1_000_000_000n,
      // (A ctime in nanoseconds past what a double holds exactly comes back exactly.)
      ctimeNs: 1_733_270_000_123_456_789n,
      contentId: id('a') as ContentId,
      chunks,
      hashedAt: 1100,
    });
    store.setHash('hash-only', {
      ino: 14,
      size: 3,
      mtimeNs: 1_000_000_000n,
      ctimeNs: 1_000_000_001n,
      contentId: id('9') as ContentId,
      chunks: [{ id: id('8') as ChunkId, size: 3 }],
      hashedAt: 1100,
    });
    const written = { remote: [...store.remote], base: [...store.base], hashes: [...store.hashes] };
    store.close();

    const reopened = new StateStore(db);
    const sorted = <T>(map: Map<string, T>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));
    expect(sorted(reopened.remote)).toEqual(written.remote.sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(sorted(reopened.base)).toEqual(written.base.sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(sorted(reopened.hashes)).toEqual(written.hashes.sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(reopened.cursor).toBe(3);
    expect(reopened.chunks.get(id('f') as ChunkId)).toEqual({ path: 'd/same', offset: 1, size: 2 });
    expect(reopened.contentRecord(id('9') as ContentId)?.ino).toBe(14);
    reopened.close();
  });

  it('finds every chunk of a file of many chunks at its offset, and forgets a replaced file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-state-'));
    dirs.push(dir);
    const store = new StateStore(join(dir, 'state.db'));
    const hex = (n: number) => n.toString(16).padStart(64, '0') as ChunkId;
    // 100 chunks of sizes 1..100, the last one a repeat of the first.
    const chunks = Array.from({ length: 100 }, (_, i) => ({ id: hex(i % 99), size: i + 1 }));
    const record = {
      ino: 1,
      size: 5050,
      mtimeNs: 1_000_000_000n,
      ctimeNs: 1_000_000_000n,
      contentId: id('c') as ContentId,
      chunks,
      hashedAt: 1100,
    };
    store.setHash('big', record);
    expect(store.chunks.get(hex(0))).toEqual({ path: 'big', offset: 0, size: 1 });
    expect(store.chunks.get(hex(50))).toEqual({ path: 'big', offset: 1275, size: 51 });
    expect(store.chunks.get(hex(98))).toEqual({ path: 'big', offset: 4851, size: 99 });
    // Replaced by a file that starts with another chunk: the old offsets are not used.
    store.setHash('big', { ...record, chunks: [{ id: hex(500), size: 7 }, ...chunks.slice(1)] });
    expect(store.chunks.get(hex(50))).toEqual({ path: 'big', offset: 1281, size: 51 });
    // (Its repeat, the last chunk, is still there.)
    expect(store.chunks.get(hex(0))).toEqual({ path: 'big', offset: 4956, size: 100 });
    expect(store.chunks.get(hex(500))).toEqual({ path: 'big', offset: 0, size: 7 });
    store.close();
  });
  it('holds an entry that comes back from the hub unchanged once, shared with the base', () => {
    const store = new StateStore(':memory:');
    const sent = file('a');
    store.setBase('same', { entry: sent, seq: 1, node: 1, ino: 10 });
    store.setBase('touched', { entry: file('b'), seq: 2, node: 2, ino: 11 });
    store.applyChanges({
      head: 3,
      more: false,
      rows: [
        put(1, 'same', file('a')),
        put(2, 'touched', file('b', 2000)),
        put(3, 'new', file('c')),
      ],
    });
    expect(store.remote.get('same')!.entry).toBe(sent);
    // Not identical (another mtime): the hub's entry is kept as it came.
    expect(store.remote.get('touched')!.entry).toEqual(file('b', 2000));
    expect(store.remote.get('new')!.entry).toEqual(file('c'));
    store.close();
  });
});

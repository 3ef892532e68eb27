import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/entry.js';
import type { ChunkId, ContentId } from '../../src/core/ids.js';
import { StateStore } from '../../src/agent/state-store.js';

const id = (c: string) => c.repeat(64);
const file = (c: string, mtime = 1000): Entry => ({
  kind: 'file',
  contentId: id(c) as ContentId,
  size: 3,
  executable: false,
  mtime,
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
        { path: 'd', entry: { kind: 'dir' }, seq: 1, node: 1 },
        { path: 'd/same', entry: file('a'), seq: 2, node: 2 },
        { path: 'd/differs', entry: file('b', 2000), seq: 3, node: 3 },
        { path: 'remote-only', entry: { kind: 'symlink', target: '../x' }, seq: 3, node: 4 },
      ],
    });
    store.batch(() => {
      store.setBase('d', { entry: { kind: 'dir' }, seq: 1, node: 1, ino: 10 });
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
      mtimeMs: 1000,
      contentId: id('a') as ContentId,
      chunks,
      hashedAt: 1100,
    });
    store.setHash('hash-only', {
      ino: 14,
      size: 3,
      mtimeMs: 1000,
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
});

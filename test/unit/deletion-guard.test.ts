/**
 * The mass-deletion guard (issue 19): which rounds of local deletions are too many to send
 * without asking (a table of thresholds and floors), what it holds and lets through
 * (moves, the hub's deletions, confirmed deletions, folders after their files), and how the
 * holds live in the state database.
 */
import { describe, expect, it } from 'vitest';
import {
  BURST_MAX_MS,
  DEFAULT_DELETION_LIMITS,
  DeletionGuard,
  massDeletion,
  SHARE_FLOOR_FILES,
  type DeletionLimits,
} from '../../src/agent/deletion-guard.js';
import { StateStore } from '../../src/agent/state-store.js';
import type { BaseNode, Entry } from '../../src/core/entry.js';
import type { ContentId } from '../../src/core/ids.js';
import { plan, type Change } from '../../src/core/planner.js';

const content = (n: number) => n.toString(16).padStart(64, '0') as ContentId;
const file = (n: number): Entry => ({
  kind: 'file',
  contentId: content(n),
  size: 10,
  executable: false,
  mtime: 1000,
  mode: 0o644,
});
const dir: Entry = { kind: 'dir', mode: 0o755 };

/** A base tree: `folders` maps each top-level folder to its number of files ('' : the root). */
function tree(folders: Record<string, number>): Map<string, BaseNode> {
  const base = new Map<string, BaseNode>();
  let n = 1;
  for (const [folder, count] of Object.entries(folders)) {
    if (folder !== '') base.set(folder, { entry: dir, seq: n, node: n, ino: n++ });
    for (let i = 0; i < count; i++) {
      const path = folder === '' ? `f${i}.txt` : `${folder}/f${i}.txt`;
      base.set(path, { entry: file(n), seq: n, node: n, ino: n++ });
    }
  }
  return base;
}

/** The first `count` files of `folder` in `base`. */
function filesOf(base: Map<string, BaseNode>, folder: string, count: number): string[] {
  const prefix = folder === '' ? '' : `${folder}/`;
  return [...base.keys()]
    .filter((p) => p.startsWith(prefix) && base.get(p)!.entry.kind === 'file')
    .filter((p) => folder !== '' || !p.includes('/'))
    .slice(0, count);
}

describe('massDeletion: when a round deletes too much', () => {
  const rows: {
    description: string;
    folders: Record<string, number>;
    deleted: [folder: string, count: number][];
    limits?: DeletionLimits;
    held: RegExp | undefined;
  }[] = [
    {
      description: 'more than 500 files at once, of a large tree',
      folders: { a: 5000, b: 5000 },
      deleted: [['a', 501]],
      held: /^501 files would be deleted at once \(more than 500\)$/,
    },
    {
      description: 'exactly 500 files of a large tree is not more than 500',
      folders: { a: 5000, b: 5000 },
      deleted: [
        ['a', 250],
        ['b', 250],
      ],
      held: undefined,
    },
    {
      description: 'more than half of the whole tree, above the floor',
      folders: { '': 150 },
      deleted: [['', 76]],
      held: /^76 of the 150 files would be deleted at once \(more than half\)$/,
    },
    {
      description: 'exactly half of the tree is not more than half',
      folders: { '': 150 },
      deleted: [['', 75]],
      held: undefined,
    },
    {
      description: 'more than half of one top-level folder, in a tree far larger',
      folders: { photos: 100, code: 9000 },
      deleted: [['photos', 60]],
      held: /^60 of the 100 files in photos\/ would be deleted at once \(more than half\)$/,
    },
    {
      description: 'below the floor: 3 of the 4 files of a small folder',
      folders: { small: 4, big: 1000 },
      deleted: [['small', 3]],
      held: undefined,
    },
    {
      description: `below the floor: ${SHARE_FLOOR_FILES - 1} of ${SHARE_FLOOR_FILES} files, the whole tree`,
      folders: { '': SHARE_FLOOR_FILES },
      deleted: [['', SHARE_FLOOR_FILES - 1]],
      held: undefined,
    },
    {
      description: 'the share rule off (100%): only the count holds',
      folders: { '': 200 },
      deleted: [['', 200]],
      limits: { maxFiles: 500, maxShare: 1 },
      held: undefined,
    },
    {
      description: 'a lower count set: 11 files with --max-deletions 10',
      folders: { '': 1000 },
      deleted: [['', 11]],
      limits: { maxFiles: 10, maxShare: 0.5 },
      held: /^11 files would be deleted at once \(more than 10\)$/,
    },
    {
      description: 'another share set: 30% of a folder',
      folders: { docs: 200, other: 2000 },
      deleted: [['docs', 61]],
      limits: { maxFiles: 500, maxShare: 0.3 },
      held: /^61 of the 200 files in docs\/ would be deleted at once \(more than 30%\)$/,
    },
  ];
  for (const row of rows)
    it(row.description, () => {
      const base = tree(row.folders);
      const deleted = row.deleted.flatMap(([folder, count]) => filesOf(base, folder, count));
      const reason = massDeletion(deleted, base, row.limits ?? DEFAULT_DELETION_LIMITS);
      if (row.held === undefined) expect(reason).toBeUndefined();
      else expect(reason).toMatch(row.held);
    });
});

describe('DeletionGuard', () => {
  const deletes = (base: Map<string, BaseNode>, paths: readonly string[]): Change[] =>
    paths.map((path) => ({ type: 'push-delete', path, base: base.get(path)!.seq }));
  const guardOn = (store = new StateStore(':memory:')) => ({
    store,
    guard: new DeletionGuard(store),
  });

  it('holds every deletion of a round of 600 files, and keeps them held in state.db', () => {
    const base = tree({ '': 600 });
    const { store, guard } = guardOn();
    const changes = deletes(base, filesOf(base, '', 600));
    const result = guard.filter(changes, changes, base, 5);
    expect(result.ready).toEqual([]);
    expect(result).toMatchObject({ heldFiles: 600, added: 600 });
    expect(result.reason).toMatch(/600 files would be deleted at once/);
    const held = store.heldDeletions();
    expect(held.size).toBe(600);
    expect(held.get('f0.txt')).toEqual({
      kind: 'file',
      reason: result.reason,
      since: 5,
      confirmed: false,
    });
    // A new guard (the agent restarted) still holds them, though one round now deletes fewer
    // than the limit (100 came back).
    const again = new DeletionGuard(store);
    const fewer = changes.slice(100);
    const next = again.filter(fewer, fewer, base, 6);
    expect(next.ready).toEqual([]);
    expect(next.heldFiles).toBe(500);
    expect(store.heldDeletions().size).toBe(500); // (those that came back are forgotten)
  });

  it('judges a burst whole: deletions still settling count', () => {
    const base = tree({ '': 1000 });
    const { guard } = guardOn();
    const planned = deletes(base, filesOf(base, '', 600));
    // Only 100 have settled (see DeletionHold); the other 500 are planned but not ready.
    const result = guard.filter(planned.slice(0, 100), planned, base, 1);
    expect(result.ready).toEqual([]);
    expect(result.heldFiles).toBe(600);
  });

  it('holds nothing while every deletion still settles: it may be half of a rename', () => {
    const base = tree({ '': 1000 });
    const { store, guard } = guardOn();
    const planned = deletes(base, filesOf(base, '', 600));
    const result = guard.filter([], planned, base, 1);
    expect(result).toMatchObject({ ready: [], heldFiles: 0, added: 0 });
    expect(store.heldDeletions().size).toBe(0);
  });

  it('keeps settled deletions back while others still settle, up to a limit, not holding them', () => {
    const base = tree({ '': 1000 });
    const { store, guard } = guardOn();
    const planned = deletes(base, filesOf(base, '', 40));
    const ready = planned.slice(0, 30);
    // 10 still settle: a burst under way. The 30 wait for it, and are not held.
    const during = guard.filter(ready, planned, base, 1, { settling: 10, elapsed: 0 });
    expect(during).toMatchObject({ ready: [], heldFiles: 0 });
    expect(during.waiting).toHaveLength(30);
    expect(store.heldDeletions().size).toBe(0);
    // Still going after BURST_MAX_MS: they go (a steady stream must not wait forever).
    const late = guard.filter(ready, planned, base, 2, { settling: 10, elapsed: BURST_MAX_MS });
    expect(late.ready).toEqual(ready);
    // The burst over (nothing settles any more) and small: all 40 go at once.
    const over = guard.filter(planned, planned, base, 3, {
      settling: 0,
      elapsed: BURST_MAX_MS + 1,
    });
    expect(over).toMatchObject({ ready: planned, waiting: [] });
  });

  it('lets a few deletions through, and other changes always', () => {
    const base = tree({ '': 1000 });
    const { store, guard } = guardOn();
    const changes: Change[] = [
      ...deletes(base, filesOf(base, '', 3)),
      { type: 'record', path: 'f9.txt', base: undefined },
    ];
    expect(guard.filter(changes, changes, base, 1).ready).toEqual(changes);
    expect(store.heldDeletions().size).toBe(0);
  });

  it('does not count the hub deletions applied here', () => {
    const base = tree({ '': 600 });
    const { store, guard } = guardOn();
    const changes: Change[] = filesOf(base, '', 600).map((path) => ({
      type: 'pull-delete',
      path,
      local: { entry: base.get(path)!.entry, ino: base.get(path)!.ino },
    }));
    expect(guard.filter(changes, changes, base, 1).ready).toHaveLength(600);
    expect(store.heldDeletions().size).toBe(0);
  });

  it('does not count a moved folder of 600 files, even planned as deletions and creations', () => {
    const base = tree({ old: 600 });
    const local = new Map(
      [...base].map(([path, node]) => [
        path.replace(/^old/, 'new'),
        { entry: node.entry, ino: node.ino },
      ]),
    );
    const remote = new Map([...base].map(([path, node]) => [path, { ...node }]));
    // Found as a move, it is one change and no deletion at all.
    const moves = plan({ base, local, remote }).changes;
    expect(moves).toMatchObject([{ type: 'push-move', from: 'old', to: 'new' }]);
    const { store, guard } = guardOn();
    expect(guard.filter(moves, moves, base, 1).ready).toEqual(moves);
    // When the rename cannot be applied, it is planned as 601 deletions and 601 creations
    // of the same bytes: nothing is lost, nothing is held.
    const fallback = plan({ base, local, remote, detectMoves: false }).changes;
    expect(fallback.filter((c) => c.type === 'push-delete')).toHaveLength(601);
    expect(guard.filter(fallback, fallback, base, 1).ready).toEqual(fallback);
    expect(store.heldDeletions().size).toBe(0);
  });

  it('counts deleted files whose bytes reappear only once each (600 empty files, one new)', () => {
    const base = tree({ '': 600 });
    const same = new Map([...base].map(([path, node]) => [path, { ...node, entry: file(7) }]));
    const { guard } = guardOn();
    const changes: Change[] = [
      ...deletes(same, filesOf(same, '', 600)),
      { type: 'push-put', path: 'new.txt', base: 0, local: { entry: file(7), ino: 9999 } },
    ];
    const result = guard.filter(changes, changes, same, 1);
    expect(result.heldFiles).toBe(599);
    expect(result.ready.filter((c) => c.type === 'push-delete')).toHaveLength(1);
  });

  it('holds a folder deletion while a file inside it is held', () => {
    const base = tree({ a: 600 });
    const { guard } = guardOn();
    const changes = deletes(base, ['a', ...filesOf(base, 'a', 600)]);
    const result = guard.filter(changes, changes, base, 1);
    expect(result.ready).toEqual([]);
    expect(result).toMatchObject({ heldFiles: 600, added: 601 });
  });

  it('sends what the person confirmed, and forgets the holds once sent', () => {
    const base = tree({ '': 600 });
    const { store, guard } = guardOn();
    const changes = deletes(base, filesOf(base, '', 600));
    guard.filter(changes, changes, base, 1);
    store.setDeletionRequest('confirm');
    expect(store.deletionRequest).toBe('confirm');
    expect(store.takeDeletionRequest()).toMatchObject({ request: 'confirm' });
    expect(store.deletionRequest).toBeUndefined();
    guard.reload();
    const result = guard.filter(changes, changes, base, 2);
    expect(result.ready).toEqual(changes);
    expect(result.heldFiles).toBe(0);
    // Sent: the next plan no longer has them, and the holds go.
    guard.filter([], [], base, 3);
    expect(store.heldDeletions().size).toBe(0);
  });

  it('forgets the base of the held paths on a restore, so they are downloaded again', () => {
    const base = tree({ '': 600 });
    const store = new StateStore(':memory:');
    store.batch(() => {
      for (const [path, node] of base) store.setBase(path, node);
    });
    const guard = new DeletionGuard(store);
    const changes = deletes(base, filesOf(base, '', 600));
    guard.filter(changes, changes, store.base, 1);
    store.setDeletionRequest('restore');
    expect(store.takeDeletionRequest()?.paths).toHaveLength(600);
    expect(store.base.size).toBe(0);
    expect(store.heldDeletions().size).toBe(0);
  });
});

/**
 * What the agent accepts from the hub's change feed (a hostile or broken hub included), and
 * what it does with a row it refuses: nothing on disk, nothing lost, the cursor moving on.
 */
import { describe, expect, it } from 'vitest';
import { checkPage, checkRecord, checkRow, labelOf } from '../../src/agent/feed-check.js';
import { StateStore } from '../../src/agent/state-store.js';
import type { Entry, RemoteNode } from '../../src/core/entry.js';
import type { ContentId } from '../../src/core/ids.js';
import { plan } from '../../src/core/planner.js';
import type { JournalRow } from '../../src/protocol/api.js';

const file = (fields: Record<string, unknown> = {}): Entry =>
  ({
    kind: 'file',
    contentId: 'cd'.repeat(32) as ContentId,
    size: 5,
    executable: false,
    mtime: 1_700_000_000_000,
    ...fields,
  }) as Entry;
const row = (fields: Record<string, unknown>): JournalRow =>
  ({
    seq: 7,
    op: 'put',
    path: 'a.txt',
    entry: file(),
    node: 7,
    base: 0,
    device: null,
    user: null,
    time: 0,
    ...fields,
  }) as unknown as JournalRow;

const remote = new Map<string, RemoteNode>([
  ['docs', { entry: { kind: 'dir', mode: 0o755 }, seq: 1, node: 1 }],
  ['link', { entry: { kind: 'symlink', target: '/tmp/outside' }, seq: 2, node: 2 }],
  ['notes.txt', { entry: file(), seq: 3, node: 3 }],
]);

describe('checkRow', () => {
  const cases: [string, Record<string, unknown>, RegExp | undefined][] = [
    ['a put of a file', {}, undefined],
    ['a put inside a folder', { path: 'docs/a.txt' }, undefined],
    [
      'a put of a link to a folder outside (data)',
      { entry: { kind: 'symlink', target: '/' } },
      undefined,
    ],
    [
      'a delete (its entry and node unused)',
      { op: 'delete', entry: undefined, node: 0 },
      undefined,
    ],
    [
      'a move of a folder',
      { op: 'move', from: 'docs', path: 'papers', entry: { kind: 'dir' } },
      undefined,
    ],
    [
      'a move without an entry',
      { op: 'move', from: 'docs', path: 'papers', entry: undefined },
      undefined,
    ],
    ['a path out of the folder', { path: '../escape.txt' }, /"\.\." segments/],
    ['a path deeper out of the folder', { path: 'docs/../../x' }, /"\.\." segments/],
    ['an absolute path', { path: '/tmp/outside/x' }, /relative/],
    ['the agent state database', { path: '.tandem/state.db' }, /\.tandem/],
    ['a file in the agent state folder', { path: 'docs/.tandem/x' }, /\.tandem/],
    ['a path with NUL', { path: 'a\u0000b' }, /control characters/],
    ['a path not in normal form C', { path: 'cafe\u0301.txt' }, /normal form C/],
    ['a path that is not a string', { path: 42 }, /must be a string/],
    ['a delete out of the folder', { op: 'delete', path: '../x' }, /"\.\." segments/],
    ['a move from out of the folder', { op: 'move', from: '../x', path: 'x' }, /its source/],
    ['a move out of the folder', { op: 'move', from: 'docs', path: '../docs' }, /"\.\."/],
    ['a move into itself', { op: 'move', from: 'docs', path: 'docs/inner' }, /into itself/],
    ['an unknown op', { op: 'chmod' }, /not put, delete or move/],
    ['a put without an entry', { entry: undefined }, /must be an object/],
    ['an mtime of 1e18', { entry: file({ mtime: 1e18 }) }, /from 1970 to 2200/],
    ['a negative size', { entry: file({ size: -1 }) }, /size must be a whole number/],
    ['a node of 0', { node: 0 }, /node 0 is not a node id/],
    ['a node past 2^53', { node: 2 ** 53 }, /not a node id/],
    ['a file inside a link', { path: 'link/evil.txt' }, /link above it is a link/],
    ['a folder deeper inside a link', { path: 'link/a/b', entry: { kind: 'dir' } }, /link above/],
    ['a file inside a file', { path: 'notes.txt/x' }, /notes\.txt above it is a file/],
    ['a move into a link', { op: 'move', from: 'docs', path: 'link/docs' }, /link above/],
  ];
  for (const [description, fields, reason] of cases)
    it(`${reason ? 'refuses' : 'accepts'} ${description}`, () => {
      const refusal = checkRow(row(fields), remote);
      if (!reason) return expect(refusal).toBeUndefined();
      expect(refusal?.reason).toMatch(reason);
    });

  it('holds the valid paths a refused row names, and labels the rest readably', () => {
    expect(checkRow(row({ entry: file({ mtime: 1e18 }) }), remote)).toMatchObject({
      labels: ['a.txt'],
      held: ['a.txt'],
    });
    expect(checkRow(row({ op: 'move', from: 'docs', path: '../docs' }), remote)).toMatchObject({
      labels: ['../docs', 'docs'],
      held: ['docs'],
    });
    expect(checkRow(row({ path: 'a\u0000b\u001b[2J' }), remote)).toMatchObject({
      labels: ['"a\\u0000b\\u001b[2J"'],
      held: [],
    });
  });
});

describe('checkPage', () => {
  const rows = (...seqs: unknown[]) => seqs.map((seq) => ({ seq }));
  const cases: [string, unknown, RegExp | undefined][] = [
    [
      'rows after the cursor up to the head',
      { head: 12, more: false, rows: rows(11, 12) },
      undefined,
    ],
    [
      'a page with gaps (rows of other workspaces are not sent)',
      { head: 20, more: false, rows: rows(11, 15) },
      undefined,
    ],
    ['a snapshot', { head: 12, more: false, snapshot: [] }, undefined],
    ['an empty page at the head', { head: 10, more: false, rows: [] }, undefined],
    ['rows going back', { head: 20, more: false, rows: rows(12, 11) }, /go back from seq 12 to 11/],
    ['a row at the cursor again', { head: 20, more: false, rows: rows(10) }, /go back/],
    ['a row past the head', { head: 11, more: false, rows: rows(11, 12) }, /past its head 11/],
    ['a row without a seq', { head: 20, more: false, rows: [{}] }, /no valid seq/],
    ['a fractional seq', { head: 20, more: false, rows: rows(11.5) }, /no valid seq/],
    [
      'more to come, and no rows',
      { head: 20, more: true, rows: [] },
      /more rows follow but sent none/,
    ],
    ['a head that is not a seq', { head: -1, more: false, rows: [] }, /head -1/],
    ['no word on more', { head: 12, rows: [] }, /whether more rows follow/],
    ['rows that are not a list', { head: 12, more: false, rows: {} }, /not a list/],
    ['nothing', null, /not an object/],
  ];
  for (const [description, page, reason] of cases)
    it(`${reason ? 'refuses' : 'accepts'} ${description}`, () => {
      const wrong = checkPage(page, 10);
      if (!reason) return expect(wrong).toBeUndefined();
      expect(wrong).toMatch(reason);
    });
});

describe('checkRecord', () => {
  const record = (fields: Record<string, unknown>) => ({
    path: 'a.txt',
    seq: 3,
    node: 2,
    entry: file(),
    ...fields,
  });
  const cases: [string, Record<string, unknown>, RegExp | undefined][] = [
    ['a file', {}, undefined],
    ['a path out of the folder', { path: '../a.txt' }, /"\.\."/],
    ['a seq of 0', { seq: 0 }, /seq 0 is not a seq/],
    ['a node given as text', { node: '2' }, /node "2"/],
    ['an invalid entry', { entry: { kind: 'dir', extra: 1 } }, /no field "extra"/],
  ];
  for (const [description, fields, reason] of cases)
    it(`${reason ? 'refuses' : 'accepts'} ${description}`, () => {
      const refusal = checkRecord(record(fields), 0);
      if (!reason) return expect(refusal).toBeUndefined();
      expect(refusal?.reason).toMatch(reason);
    });

  it('labels a long invalid path shortened', () => {
    expect(labelOf(`../${'x'.repeat(500)}`, 0).length).toBeLessThan(220);
  });
});

describe('a refused row in the state store', () => {
  const fresh = () => {
    const store = new StateStore(':memory:');
    store.applyChanges({
      head: 3,
      more: false,
      snapshot: [
        { path: 'kept.txt', entry: file(), seq: 1, node: 1 },
        { path: 'docs', entry: { kind: 'dir', mode: 0o755 }, seq: 2, node: 2 },
        { path: 'docs/a.txt', entry: file(), seq: 3, node: 3 },
      ],
    });
    // Everything is in sync: the base is what the hub sent.
    for (const [path, node] of store.remote) store.setBase(path, { ...node, ino: node.seq + 100 });
    return store;
  };
  const local = (store: StateStore) =>
    new Map([...store.base].map(([path, b]) => [path, { entry: b.entry, ino: b.ino }]));

  it('leaves the path as it was, moves the cursor past it, and plans nothing there', () => {
    const store = fresh();
    const before = store.remote.get('kept.txt');
    const problems = store.applyChanges({
      head: 5,
      more: false,
      rows: [
        row({ seq: 4, path: 'kept.txt', entry: file({ mtime: 1e18 }), node: 1 }),
        row({ seq: 5, path: '../escape.txt' }),
      ],
    });
    expect(store.cursor).toBe(5);
    expect(store.remote.get('kept.txt')).toBe(before);
    expect(store.remote.has('../escape.txt')).toBe(false);
    expect(problems.map((p) => p.path)).toEqual(['kept.txt', '../escape.txt']);
    expect(problems[0]!.message).toMatch(/seq 4.*from 1970 to 2200.*until the hub sends a valid/);
    expect(store.isHeld('kept.txt')).toBe(true);
    expect(store.problems.get('kept.txt')).toMatchObject({ kind: 'feed' });
    expect(plan({ base: store.base, local: local(store), remote: store.remote }).changes).toEqual(
      [],
    );
  });

  it('reports a row refused again the same way only once', () => {
    const store = fresh();
    const bad = (seq: number) => row({ seq, path: '.tandem/state.db' });
    expect(store.applyChanges({ head: 4, more: false, rows: [bad(4)] })).toHaveLength(1);
    const again = store.applyChanges({ head: 5, more: false, rows: [bad(5)] });
    expect(again.map((p) => p.message)).toEqual([expect.stringMatching(/seq 5/)]);
  });

  it('keeps the node a refused snapshot record had, so its absence is not taken for a deletion', () => {
    const store = fresh();
    store.resetRemote(); // the hub was restored: resync from zero
    store.applyChanges({
      head: 9,
      more: false,
      snapshot: [
        { path: 'kept.txt', entry: file({ size: -5 }), seq: 8, node: 1 },
        { path: 'docs', entry: { kind: 'symlink', target: '/tmp/outside' }, seq: 9, node: 2 },
        { path: 'docs/a.txt', entry: file(), seq: 3, node: 3 },
      ],
    });
    // Without a node the planner would delete the local kept.txt; its old node is gone with
    // the reset, so the path is held instead.
    expect(store.isHeld('kept.txt')).toBe(true);
    expect(store.problems.get('docs/a.txt')?.message).toMatch(/docs above it is a link/);
    const changes = plan({
      base: store.base,
      local: local(store),
      remote: store.remote,
      isIgnored: (p) => store.isHeld(p),
    }).changes;
    expect(changes.filter((c) => c.type === 'pull-delete' || c.type === 'push-put')).toEqual([]);
  });

  it('releases a held path when a valid change for it arrives', () => {
    const store = fresh();
    store.applyChanges({ head: 4, more: false, rows: [row({ seq: 4, path: 'docs', entry: 7 })] });
    expect(store.isHeld('docs/a.txt')).toBe(true); // (what lies inside is held with it)
    store.applyChanges({
      head: 5,
      more: false,
      rows: [row({ seq: 5, path: 'docs', entry: { kind: 'dir' }, node: 2 })],
    });
    expect(store.isHeld('docs/a.txt')).toBe(false);
    expect(store.problems.size).toBe(0);
  });

  it('moves a hold with the folder the hub moves', () => {
    const store = fresh();
    store.applyChanges({
      head: 5,
      more: false,
      rows: [
        row({ seq: 4, path: 'docs/a.txt', entry: file({ executable: 'yes' }), node: 3 }),
        row({ seq: 5, op: 'move', from: 'docs', path: 'papers', entry: { kind: 'dir' }, node: 2 }),
      ],
    });
    expect(store.isHeld('docs/a.txt')).toBe(false);
    expect(store.isHeld('papers/a.txt')).toBe(true);
    expect(store.remote.has('papers/a.txt')).toBe(true);
  });
});

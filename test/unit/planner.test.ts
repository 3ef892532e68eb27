/**
 * The planner's decision table (DESIGN.md "The agent's three trees"), one row per case, with
 * named fixtures in the style of mutagen's reconcile tests.
 */
import { describe, expect, it } from 'vitest';
import type { BaseNode, Entry, LocalNode, RemoteNode } from '../../src/core/entry.js';
import type { ContentId } from '../../src/core/ids.js';
import { holdTypeChanges, plan, type Change } from '../../src/core/planner.js';

const content = (name: string) => name.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a') as ContentId;
const file = (name: string, executable = false): Entry => ({
  kind: 'file',
  contentId: content(name),
  size: name.length,
  executable,
  mode: executable ? 0o755 : 0o644,
  mtime: 1000,
});
/** `entry` with another mtime: the file touched. */
const touched = (entry: Entry, mtime = 2000): Entry => ({ ...entry, mtime }) as Entry;
const dir: Entry = { kind: 'dir', mode: 0o755 };
const link = (target: string): Entry => ({ kind: 'symlink', target });
/** `entry` with another mode: chmod-ed. */
const chmodded = (entry: Entry, mode: number): Entry => ({ ...entry, mode }) as Entry;

// Named fixtures.
const v1 = file('1');
const v2 = file('2');
const v3 = file('3');

const base = (entry: Entry, seq = 10, ino = 100, node = seq): BaseNode => ({
  entry,
  seq,
  node,
  ino,
});
const local = (entry: Entry, ino = 100): LocalNode => ({ entry, ino });
const remote = (entry: Entry, seq = 10, node = seq): RemoteNode => ({ entry, seq, node });

type Trees = {
  base?: [string, BaseNode][];
  local?: [string, LocalNode][];
  remote?: [string, RemoteNode][];
};

function run(trees: Trees, options: { skip?: string[]; ignored?: string[] } = {}): Change[] {
  return [
    ...plan({
      base: new Map(trees.base ?? []),
      local: new Map(trees.local ?? []),
      remote: new Map(trees.remote ?? []),
      ...(options.skip ? { skip: new Set(options.skip) } : {}),
      ...(options.ignored ? { isIgnored: (p: string) => options.ignored!.includes(p) } : {}),
    }).changes,
  ];
}

interface Row {
  description: string;
  trees: Trees;
  options?: { skip?: string[]; ignored?: string[] };
  expected: Partial<Change>[];
}

const table: Row[] = [
  {
    description: 'same / same: nothing to do',
    trees: { base: [['a', base(v1)]], local: [['a', local(v1)]], remote: [['a', remote(v1)]] },
    expected: [],
  },
  {
    description: 'modified here / same there: upload with the base seq',
    trees: { base: [['a', base(v1)]], local: [['a', local(v2)]], remote: [['a', remote(v1)]] },
    expected: [{ type: 'push-put', path: 'a', base: 10 }],
  },
  {
    description: 'created here / absent there: upload with base 0',
    trees: { local: [['a', local(v1)]] },
    expected: [{ type: 'push-put', path: 'a', base: 0 }],
  },
  {
    description: 'empty folder created here: sent as a folder',
    trees: { local: [['d', local(dir)]] },
    expected: [{ type: 'push-put', path: 'd', base: 0 }],
  },
  {
    description: 'deleted here / same there: delete with the base seq',
    trees: { base: [['a', base(v1)]], remote: [['a', remote(v1)]] },
    expected: [{ type: 'push-delete', path: 'a', base: 10 }],
  },
  {
    description: 'executable bit flipped here: upload',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(file('1', true))]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-put', path: 'a' }],
  },
  {
    description: 'chmod here (600): upload the mode, same bytes',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(chmodded(v1, 0o600))]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-put', path: 'a', base: 10 }],
  },
  {
    description: 'chmod of a folder here: upload the folder',
    trees: {
      base: [['d', base(dir)]],
      local: [['d', local(chmodded(dir, 0o700))]],
      remote: [['d', remote(dir)]],
    },
    expected: [{ type: 'push-put', path: 'd', base: 10 }],
  },
  {
    description: 'chmod there: pull the mode',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v1)]],
      remote: [['a', remote(chmodded(v1, 0o600), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a', local: local(v1) }],
  },
  {
    description: 'chmod on both sides, to different modes: the hub wins, no conflict',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(chmodded(v1, 0o640))]],
      remote: [['a', remote(chmodded(v1, 0o600), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a' }],
  },
  {
    description: 'a folder chmod-ed on both sides: the hub wins, no conflict',
    trees: {
      base: [['d', base(dir)]],
      local: [['d', local(chmodded(dir, 0o750))]],
      remote: [['d', remote(chmodded(dir, 0o700), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'd' }],
  },
  {
    description: 'chmod on both sides to the same mode: agreed, nothing transferred',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(chmodded(v1, 0o600))]],
      remote: [['a', remote(chmodded(v1, 0o600), 11, 10)]],
    },
    expected: [{ type: 'record', path: 'a' }],
  },
  {
    description: 'new bytes and a new mode here: one upload carrying both',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(chmodded(v2, 0o400))]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-put', path: 'a', local: local(chmodded(v2, 0o400)) }],
  },
  {
    description: 'same here / modified there: download, expecting the local file',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v1)]],
      remote: [['a', remote(v2, 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a', local: local(v1) }],
  },
  {
    description: 'absent here / created there: download, expecting nothing',
    trees: { remote: [['a', remote(v1)]] },
    expected: [{ type: 'pull-put', path: 'a', local: undefined }],
  },
  {
    description: 'absent here / folder created there: mkdir',
    trees: { remote: [['d', remote(dir)]] },
    expected: [{ type: 'pull-put', path: 'd' }],
  },
  {
    description: 'same here / deleted there: delete locally',
    trees: { base: [['a', base(v1)]], local: [['a', local(v1)]] },
    expected: [{ type: 'pull-delete', path: 'a' }],
  },
  {
    description: 'both changed to the same bytes: record the new base, transfer nothing',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v2, 101)]],
      remote: [['a', remote(v2, 12, 10)]],
    },
    expected: [{ type: 'record', path: 'a', base: { entry: v2, seq: 12, node: 10, ino: 101 } }],
  },
  {
    description: 'both created the same bytes: identical bytes are never a conflict',
    trees: { local: [['a', local(v1)]], remote: [['a', remote(v1)]] },
    expected: [{ type: 'record', path: 'a' }],
  },
  {
    description: 'both created a folder: agree',
    trees: { local: [['d', local(dir)]], remote: [['d', remote(dir)]] },
    expected: [{ type: 'record', path: 'd' }],
  },
  {
    description: 'both deleted: forget the base',
    trees: { base: [['a', base(v1)]] },
    expected: [{ type: 'record', path: 'a', base: undefined }],
  },
  {
    description: 'modified here / modified there: conflict (the hub keeps the path)',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v2)]],
      remote: [['a', remote(v3, 11, 10)]],
    },
    expected: [{ type: 'conflict', path: 'a' }],
  },
  {
    description: 'created here / created there, different bytes: conflict',
    trees: { local: [['a', local(v2)]], remote: [['a', remote(v3)]] },
    expected: [{ type: 'conflict', path: 'a' }],
  },
  {
    description: 'file here / folder there: conflict',
    trees: { local: [['a', local(v2)]], remote: [['a', remote(dir)]] },
    expected: [{ type: 'conflict', path: 'a' }],
  },
  {
    description: 'same bytes, different executable bit on both sides: the hub wins, no copy',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(file('2', true))]],
      remote: [['a', remote(v2, 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a' }],
  },
  {
    description: 'touched here (same bytes, new mtime): upload with the base seq',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(touched(v1))]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-put', path: 'a', base: 10, local: local(touched(v1)) }],
  },
  {
    description: 'same here / touched there: download (the new mtime)',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v1)]],
      remote: [['a', remote(touched(v1), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a', local: local(v1) }],
  },
  {
    description: 'touched on both sides, to different mtimes: the hub wins, no copy',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(touched(v1, 3000))]],
      remote: [['a', remote(touched(v1, 2000), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a' }],
  },
  {
    description: 'touched on both sides, to the same mtime: agree',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(touched(v1))]],
      remote: [['a', remote(touched(v1), 11, 10)]],
    },
    expected: [{ type: 'record', path: 'a' }],
  },
  {
    description: 'touched here / modified there: the edit wins over a touch, no copy',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(touched(v1))]],
      remote: [['a', remote(v2, 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'a' }],
  },
  {
    description:
      "modified here / touched there: the edit wins over a touch (upload on the hub's seq)",
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(v2)]],
      remote: [['a', remote(touched(v1), 11, 10)]],
    },
    expected: [{ type: 'push-put', path: 'a', base: 11 }],
  },
  {
    description: 'modified here with the mtime put back / modified there: conflict',
    trees: {
      base: [['a', base(v1)]],
      local: [['a', local(file('2'))]],
      remote: [['a', remote(touched(v3), 11, 10)]],
    },
    expected: [{ type: 'conflict', path: 'a' }],
  },
  {
    description: 'deleted here / modified there: the modification wins (download)',
    trees: { base: [['a', base(v1)]], remote: [['a', remote(v2, 11, 10)]] },
    expected: [{ type: 'pull-put', path: 'a', local: undefined }],
  },
  {
    description: 'modified here / deleted there: the modification wins (upload again, base 0)',
    trees: { base: [['a', base(v1)]], local: [['a', local(v2)]] },
    expected: [{ type: 'push-put', path: 'a', base: 0 }],
  },
  {
    description: 'symlink target changed there: replace the link',
    trees: {
      base: [['l', base(link('x'))]],
      local: [['l', local(link('x'))]],
      remote: [['l', remote(link('y'), 11, 10)]],
    },
    expected: [{ type: 'pull-put', path: 'l' }],
  },
  {
    description: 'renamed here (same inode, same bytes): one move',
    trees: {
      base: [['a', base(v1, 10, 100)]],
      local: [['b', local(v1, 100)]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-move', from: 'a', to: 'b', base: 10 }],
  },
  {
    description: 'renamed and touched here: one move (the new mtime goes after it)',
    trees: {
      base: [['a', base(v1, 10, 100)]],
      local: [['b', local(touched(v1), 100)]],
      remote: [['a', remote(v1)]],
    },
    expected: [{ type: 'push-move', from: 'a', to: 'b', base: 10 }],
  },
  {
    description: 'folder renamed here: one move for the whole subtree',
    trees: {
      base: [
        ['d', base(dir, 10, 100)],
        ['d/x', base(v1, 11, 101)],
        ['d/y', base(v2, 12, 102)],
      ],
      local: [
        ['e', local(dir, 100)],
        ['e/x', local(v1, 101)],
        ['e/y', local(v2, 102)],
      ],
      remote: [
        ['d', remote(dir, 10)],
        ['d/x', remote(v1, 11)],
        ['d/y', remote(v2, 12)],
      ],
    },
    expected: [{ type: 'push-move', from: 'd', to: 'e' }],
  },
  {
    description: 'folder renamed there (same node): one local rename',
    trees: {
      base: [
        ['d', base(dir, 10, 100)],
        ['d/x', base(v1, 11, 101)],
      ],
      local: [
        ['d', local(dir, 100)],
        ['d/x', local(v1, 101)],
      ],
      remote: [
        ['e', remote(dir, 20, 10)],
        ['e/x', remote(v1, 11)],
      ],
    },
    expected: [{ type: 'pull-move', from: 'd', to: 'e' }],
  },
  {
    description:
      'renamed here but modified there: no move; delete (refused by the hub) + create, nothing lost',
    trees: {
      base: [['a', base(v1, 10, 100)]],
      local: [['b', local(v1, 100)]],
      remote: [['a', remote(v2, 11, 10)]],
    },
    expected: [
      { type: 'pull-put', path: 'a', local: undefined },
      { type: 'push-put', path: 'b', base: 0 },
    ],
  },
  {
    description: 'renamed here with new bytes: delete + create',
    trees: {
      base: [['a', base(v1, 10, 100)]],
      local: [['b', local(v2, 100)]],
      remote: [['a', remote(v1)]],
    },
    expected: [
      { type: 'push-delete', path: 'a' },
      { type: 'push-put', path: 'b' },
    ],
  },
  {
    description:
      'folder replaced by a file here: the deletions of its files and the put of the file, no conflict',
    trees: {
      base: [
        ['d', base(dir, 10, 100)],
        ['d/x', base(v1, 11, 101)],
        ['d/y', base(v2, 12, 102)],
      ],
      local: [['d', local(v3, 103)]],
      remote: [
        ['d', remote(dir, 10)],
        ['d/x', remote(v1, 11)],
        ['d/y', remote(v2, 12)],
      ],
    },
    expected: [
      { type: 'push-put', path: 'd', base: 10 },
      { type: 'push-delete', path: 'd/x', base: 11 },
      { type: 'push-delete', path: 'd/y', base: 12 },
    ],
  },
  {
    description: 'folder replaced by a link here, with the inode of one of its files: no move',
    trees: {
      base: [
        ['d', base(dir, 10, 100)],
        ['d/x', base(v1, 11, 101)],
      ],
      local: [['d', local(link('elsewhere'), 101)]],
      remote: [
        ['d', remote(dir, 10)],
        ['d/x', remote(v1, 11)],
      ],
    },
    expected: [
      { type: 'push-put', path: 'd', base: 10 },
      { type: 'push-delete', path: 'd/x', base: 11 },
    ],
  },
  {
    description: 'file replaced by a folder with a file here: two puts, the folder first',
    trees: {
      base: [['f', base(v1, 10, 100)]],
      local: [
        ['f', local(dir, 101)],
        ['f/x', local(v2, 102)],
      ],
      remote: [['f', remote(v1, 10)]],
    },
    expected: [
      { type: 'push-put', path: 'f', base: 10 },
      { type: 'push-put', path: 'f/x', base: 0 },
    ],
  },
  {
    description: 'folder replaced by a file there: deletions of its files, then the file',
    trees: {
      base: [
        ['d', base(dir, 10, 100)],
        ['d/x', base(v1, 11, 101)],
      ],
      local: [
        ['d', local(dir, 100)],
        ['d/x', local(v1, 101)],
      ],
      remote: [['d', remote(v3, 20, 10)]],
    },
    expected: [
      { type: 'pull-put', path: 'd' },
      { type: 'pull-delete', path: 'd/x' },
    ],
  },
  {
    description: 'a file still being written is left alone',
    trees: { base: [['a', base(v1)]], remote: [['a', remote(v1)]] },
    options: { skip: ['a'] },
    expected: [],
  },
  {
    description: 'an ignored path is never planned, whatever the trees say',
    trees: { remote: [['x.swp', remote(v1)]], local: [['y.tmp', local(v2)]] },
    options: { ignored: ['x.swp', 'y.tmp'] },
    expected: [],
  },
];

describe('planner decision table', () => {
  for (const row of table) {
    it(row.description, () => {
      const changes = run(row.trees, row.options);
      expect(changes).toHaveLength(row.expected.length);
      row.expected.forEach((expected, i) => expect(changes[i]).toMatchObject(expected));
    });
  }
});

describe('a folder replaced by a file or a link waits for the deletions of its contents', () => {
  const put = (path: string, entry: Entry): Change => ({
    type: 'push-put',
    path,
    base: 10,
    local: local(entry),
  });
  const del = (path: string): Change => ({ type: 'push-delete', path, base: 11 });
  const planned = [put('d', v1), del('d/sub/x'), del('d/y'), put('e', link('d')), del('e/z')];

  it('holds the put while a deletion below it is held', () => {
    // (d/sub/x is held back, e/z goes: d waits, e goes with its deletion.)
    const ready = [put('d', v1), del('d/y'), put('e', link('d')), del('e/z')];
    const { ready: now, held } = holdTypeChanges(ready, planned);
    expect(held).toEqual(['d']);
    expect(now.map((c) => ('path' in c ? c.path : ''))).toEqual(['d/y', 'e', 'e/z']);
  });

  it('lets the put go with its deletions once none below it waits', () => {
    const { ready, held } = holdTypeChanges(planned, planned);
    expect(held).toEqual([]);
    expect(ready).toEqual(planned);
  });

  it('never holds a folder put, or a put with no deletion below it', () => {
    // (g/x and h/x wait: the folder g may go, and so may the file f beside them.)
    const changes = [put('g', dir), put('g/new', v2), put('f', v1), del('g/x'), del('h/x')];
    const { ready, held } = holdTypeChanges(changes.slice(0, 3), changes);
    expect(held).toEqual([]);
    expect(ready).toEqual(changes.slice(0, 3));
  });
});

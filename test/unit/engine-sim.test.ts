import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Executor } from '../../src/agent/executor.js';
import type { HubClient } from '../../src/agent/hub-client.js';
import type { WorkspaceInfo } from '../../src/protocol/api.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

describe('two simulated devices through the real hub app', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);

  beforeEach(async () => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'desktop', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now);
    b = await simDevice(hub, clientB, ws.id, 'desktop', now);
  });
  afterEach(async () => {
    await hub.close();
  });

  const sync = async (...devices: SimDevice[]) => {
    for (let i = 0; i < 3; i++) for (const d of devices) await d.engine.syncUntilIdle();
  };

  it('propagates a new file, a folder, a modification, a rename and a delete', async () => {
    await a.fs.mkdir('/laptop/notes');
    await a.fs.writeFile('/laptop/notes/todo.txt', 'buy milk');
    await a.fs.mkdir('/laptop/empty');
    await sync(a, b);
    expect((await b.fs.readFile('/desktop/notes/todo.txt')).toString()).toBe('buy milk');
    expect((await b.fs.lstat('/desktop/empty'))?.kind).toBe('dir');

    await b.fs.writeFile('/desktop/notes/todo.txt', 'buy oat milk');
    await sync(b, a);
    expect((await a.fs.readFile('/laptop/notes/todo.txt')).toString()).toBe('buy oat milk');

    await a.fs.rename('/laptop/notes', '/laptop/archive');
    await sync(a, b);
    expect(await b.fs.lstat('/desktop/notes')).toBeUndefined();
    expect((await b.fs.readFile('/desktop/archive/todo.txt')).toString()).toBe('buy oat milk');

    await b.fs.unlink('/desktop/archive/todo.txt');
    await sync(b, a);
    expect(await a.fs.lstat('/laptop/archive/todo.txt')).toBeUndefined();
    expect(await a.fs.snapshot('/laptop')).toEqual(await b.fs.snapshot('/desktop'));
  });

  it('leaves a file replaced between its scan and its upload for the next round', async () => {
    // Three 7 MiB files: the round keeps at most 16 MiB of what the scan read, so one of them
    // is read again for its upload. Right then it is replaced by another file of the same
    // size: what was hashed is gone, and nothing must be sent in its name.
    const names = ['one.bin', 'two.bin', 'three.bin'];
    for (const [i, name] of names.entries())
      await a.fs.writeFile(`/laptop/${name}`, Buffer.alloc(7 << 20, i + 1));
    const replacement = Buffer.alloc(7 << 20, 9);
    const opens = new Map<string, number>();
    let replaced: string | undefined;
    const openRead = a.fs.openRead.bind(a.fs);
    a.fs.openRead = async (path) => {
      const count = (opens.get(path) ?? 0) + 1;
      opens.set(path, count);
      if (count === 2 && !replaced && names.some((n) => path === `/laptop/${n}`)) {
        replaced = path.slice('/laptop/'.length);
        await a.fs.writeFile('/laptop/.tandem/swap', replacement);
        await a.fs.rename('/laptop/.tandem/swap', path);
      }
      return openRead(path);
    };
    const first = await a.engine.round();
    expect(replaced).toBeDefined();
    expect(first.execution.problems).toEqual([
      { path: replaced, message: `${replaced} changed locally since the scan; will look again` },
    ]);
    expect(first.execution.applied).toBe(2);

    await sync(a, b);
    for (const [i, name] of names.entries()) {
      const want = name === replaced ? replacement : Buffer.alloc(7 << 20, i + 1);
      expect((await b.fs.readFile(`/desktop/${name}`)).equals(want)).toBe(true);
    }
  });

  it('makes a big batch of downloads durable before renaming any, and places none if that fails', async () => {
    // 40 small files arrive in one batch, made durable by a barrier over the filesystem
    // (syncfs on a real disk): flushed once before the first rename and once after the last.
    const names = Array.from({ length: 40 }, (_, i) => `f${i}.txt`);
    for (const name of names) await a.fs.writeFile(`/laptop/${name}`, `bytes of ${name}`);
    await sync(a);
    const events: string[] = [];
    let failures = 1;
    b.fs.openBarrier = async () => ({
      flush: async () => {
        events.push('flush');
        if (failures-- > 0)
          throw Object.assign(new Error("EIO: syncfs '/desktop/.tandem/tmp'"), { code: 'EIO' });
      },
      close: async () => {},
    });
    const rename = b.fs.rename.bind(b.fs);
    b.fs.rename = async (from, to) => {
      if (from.startsWith('/desktop/.tandem/tmp/')) events.push('rename');
      return rename(from, to);
    };

    await expect(b.engine.round()).rejects.toThrow('EIO');
    expect(events).toEqual(['flush']);
    for (const name of names) expect(await b.fs.lstat(`/desktop/${name}`)).toBeUndefined();
    expect(b.store.base.get(names[0]!)).toBeUndefined();
    expect(await b.fs.readdir('/desktop/.tandem/tmp')).toEqual([]);

    events.length = 0;
    await sync(b);
    expect(events).toEqual(['flush', ...names.map(() => 'rename'), 'flush']);
    for (const name of names)
      expect((await b.fs.readFile(`/desktop/${name}`)).toString()).toBe(`bytes of ${name}`);
    expect(b.store.base.get(names[0]!)?.entry.kind).toBe('file');
  });

  it('sends a folder moved into a new folder as one move when only the new folder is hinted', async () => {
    await a.fs.mkdir('/laptop/projects');
    await a.fs.writeFile('/laptop/projects/main.c', 'int main;');
    await sync(a, b);
    // The watcher's event for the new folder came first; the old name's is still on its way.
    await b.fs.mkdir('/desktop/archive');
    await b.fs.rename('/desktop/projects', '/desktop/archive/projects-2026');
    await b.engine.round(['archive']);
    const actions = b.store.decisions('archive/projects-2026', 10).map((d) => d.action);
    expect(actions).toContain('sent rename');
    await sync(a, b);
    expect((await a.fs.readFile('/laptop/archive/projects-2026/main.c')).toString()).toBe(
      'int main;',
    );
    expect(await a.fs.lstat('/laptop/projects')).toBeUndefined();
  });

  it('keeps both versions when both devices edit the same file', async () => {
    await a.fs.writeFile('/laptop/plan.md', 'v0');
    await sync(a, b);
    await a.fs.writeFile('/laptop/plan.md', 'from laptop');
    await b.fs.writeFile('/desktop/plan.md', 'from desktop');
    await sync(a, b, a);
    const snapA = await a.fs.snapshot('/laptop');
    const snapB = await b.fs.snapshot('/desktop');
    snapA.delete('.tandem');
    expect([...snapA.values()].map((v) => v.data).sort()).toContain('from laptop');
    expect([...snapA.values()].map((v) => v.data).sort()).toContain('from desktop');
    const names = [...snapA.keys()].filter((k) => !k.startsWith('.tandem'));
    expect(names.some((n) => n.includes('conflicted copy'))).toBe(true);
    for (const [k, v] of snapA) if (!k.startsWith('.tandem')) expect(snapB.get(k)).toEqual(v);
  });
});

describe('local deletions wait a moment before they are sent', () => {
  // A clock the test drives: the hold is about time between rounds.
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const later = (ms: number) => (clock += ms);
  const HOLD_MS = 500;
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clientA: HubClient;
  let ws: WorkspaceInfo;

  beforeEach(async () => {
    hub = await startSimHub(now);
    clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'desktop', false);
    ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now, HOLD_MS);
    b = await simDevice(hub, clientB, ws.id, 'desktop', now, HOLD_MS);
    await a.fs.mkdir('/laptop/notes');
    await a.fs.writeFile('/laptop/notes/todo.txt', 'buy milk');
    await a.fs.writeFile('/laptop/notes/done.txt', 'bread');
    later(10_000); // (files written a moment ago are still being written)
    await a.engine.round();
    await b.engine.round();
  });
  afterEach(async () => {
    await hub.close();
  });
  const headOf = async () => (await clientA.changes(ws.id, 0)).head;

  it('sends a rename seen in two halves as one move, not a deletion', async () => {
    // The watcher can report "notes is gone" and "archive appeared" in two batches, and a
    // scan can list a folder just before it is renamed. The round that sees only the first
    // half must not send a deletion: B would delete its copy and download it all again.
    const seen = await headOf();
    await a.fs.rename('/laptop/notes', '/laptop/archive');
    const firstHalf = await a.engine.round(['notes']);
    expect(firstHalf.execution.applied).toBe(0);
    expect(firstHalf.unstable).toBe(3);
    expect(firstHalf.retryInMs).toBe(HOLD_MS);
    later(50);
    const secondHalf = await a.engine.round(['archive']);
    expect(secondHalf.execution.applied).toBe(1);

    const feed = await clientA.changes(ws.id, seen);
    expect(feed.rows?.map((row) => [row.op, row.path])).toEqual([['move', 'archive']]);
    await b.engine.round();
    expect((await b.fs.readFile('/desktop/archive/todo.txt')).toString()).toBe('buy milk');
    expect(await b.fs.lstat('/desktop/notes')).toBeUndefined();
  });

  it('sends a folder replaced by a file as one change, not a conflict with itself (issue 19)', async () => {
    // The deletions of the folder's files hold a moment; the file's put must wait with them.
    // Sent alone, the hub refused it (the folder still had files) and the agent moved the
    // user's new file aside as a conflicted copy of its own folder.
    const seen = await headOf();
    await a.fs.removeTree('/laptop/notes');
    await a.fs.writeFile('/laptop/notes', 'a file now');
    later(100);
    const first = await a.engine.round(['notes']);
    expect(first.execution.applied).toBe(0);
    expect(first.execution.problems).toEqual([]);
    expect(await headOf()).toBe(seen);
    later(HOLD_MS);
    const second = await a.engine.round([]);
    expect(second.execution.problems).toEqual([]);
    const feed = await clientA.changes(ws.id, seen);
    expect(feed.rows?.map((row) => [row.op, row.path, row.entry?.kind])).toEqual([
      ['delete', 'notes/todo.txt', undefined],
      ['delete', 'notes/done.txt', undefined],
      ['put', 'notes', 'file'],
    ]);
    expect((await a.fs.readFile('/laptop/notes')).toString()).toBe('a file now');
    await b.engine.round();
    expect((await b.fs.readFile('/desktop/notes')).toString()).toBe('a file now');
    for (const [fs, root] of [
      [a.fs, '/laptop'],
      [b.fs, '/desktop'],
    ] as const)
      expect([...(await fs.snapshot(root)).keys()].filter((p) => p.includes('conflicted'))).toEqual(
        [],
      );
  });

  it('does not fork a file put over a folder whose files it deleted, if the deletions lag', async () => {
    // However the put came to be sent without them, the hub's "not empty" names files this
    // device agreed on and deleted: not another device's, so not a conflict.
    await a.fs.removeTree('/laptop/notes');
    await a.fs.writeFile('/laptop/notes', 'a file now');
    later(100);
    await a.engine.round(['notes']); // (hashes it, and holds it with the deletions)
    const hash = a.store.hashes.get('notes')!;
    const local = {
      entry: {
        kind: 'file' as const,
        contentId: hash.contentId,
        size: hash.size,
        executable: false,
        mode: 0o644,
        mtime: Math.round(Number(hash.mtimeNs) / 1e6),
      },
      ino: hash.ino,
    };
    const executor = new Executor({
      fs: a.fs,
      root: a.root,
      store: a.store,
      client: clientA,
      workspaceId: ws.id,
      deviceName: 'laptop',
      now,
      log: () => {},
    });
    const alone = await executor.execute([
      { type: 'push-put', path: 'notes', base: a.store.base.get('notes')!.seq, local },
    ]);
    expect(alone.problems).toEqual([
      { path: 'notes', message: expect.stringContaining('not empty') as unknown },
    ]);
    expect(alone.touched).toEqual([]); // no conflicted copy
    expect((await a.fs.readFile('/laptop/notes')).toString()).toBe('a file now');
    later(HOLD_MS + 10_000);
    await a.engine.syncUntilIdle();
    await b.engine.syncUntilIdle();
    expect((await b.fs.readFile('/desktop/notes')).toString()).toBe('a file now');
  });

  it('keeps both when another device added a file in the folder replaced here: a conflict', async () => {
    await b.fs.writeFile('/desktop/notes/new.txt', 'from the desktop');
    later(10_000);
    await b.engine.syncUntilIdle();
    await a.fs.removeTree('/laptop/notes');
    await a.fs.writeFile('/laptop/notes', 'a file now');
    later(10_000);
    for (let i = 0; i < 4; i++) {
      await a.engine.syncUntilIdle();
      later(HOLD_MS + 10_000);
    }
    await b.engine.syncUntilIdle();
    const tree = await a.fs.snapshot('/laptop');
    const copy = [...tree.keys()].find((p) => p.startsWith('notes (conflicted copy'));
    expect(copy && tree.get(copy)).toMatchObject({ kind: 'file', data: 'a file now' });
    expect(tree.get('notes/new.txt')).toMatchObject({ data: 'from the desktop' });
    expect(tree.has('notes/todo.txt')).toBe(false);
    for (const [path, item] of tree)
      if (!path.startsWith('.tandem'))
        expect((await b.fs.snapshot('/desktop')).get(path)).toEqual(item);
  });

  it('sends a deletion once it has stayed deleted for the hold, looking at the path again', async () => {
    const head = await headOf();
    const { mtimeMs } = (await a.fs.lstat('/laptop/notes/todo.txt'))!;
    await a.fs.unlink('/laptop/notes/todo.txt');
    expect((await a.engine.round(['notes/todo.txt'])).execution.applied).toBe(0);
    later(HOLD_MS - 1);
    expect((await a.engine.round()).execution.applied).toBe(0);

    // Back before the hold ran out (as it was, mtime too): the engine looks at the path again
    // by itself (no hint), sends nothing, and a new deletion waits the whole hold again.
    await a.fs.writeFile('/laptop/notes/todo.txt', 'buy milk');
    await a.fs.utimes('/laptop/notes/todo.txt', mtimeMs);
    later(10_000);
    await a.engine.round([]);
    expect(await headOf()).toBe(head);
    await a.fs.unlink('/laptop/notes/todo.txt');
    expect((await a.engine.round(['notes/todo.txt'])).execution.applied).toBe(0);
    later(HOLD_MS);
    expect((await a.engine.round([])).execution.applied).toBe(1);

    await b.engine.round();
    expect(await b.fs.lstat('/desktop/notes/todo.txt')).toBeUndefined();
    expect((await b.fs.readFile('/desktop/notes/done.txt')).toString()).toBe('bread');
  });
});

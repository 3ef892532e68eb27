/**
 * The mass-deletion guard in the engine (issue 19), with two simulated devices through the
 * real hub app: 600 files deleted at once are held on the device that deleted them, and the
 * other device keeps them until the deletions are confirmed; a restore brings them back
 * byte for byte; a moved folder and the hub's deletions are never held. And a state
 * database of the previous version (3) opens and syncs on.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncEngine } from '../../src/agent/engine.js';
import { StateStore } from '../../src/agent/state-store.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

const FILES = 600;
const body = (i: number) => `file ${i}: ${'x'.repeat(i % 97)}\n`;

describe('mass deletions, between two simulated devices', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);
  const lines: string[] = [];

  beforeEach(async () => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'desktop', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now);
    // (Its own engine, to read what it logs.)
    a = {
      ...a,
      engine: new SyncEngine({
        fs: a.fs,
        root: a.root,
        store: a.store,
        client: clientA,
        workspaceId: ws.id,
        deviceName: 'laptop',
        now,
        deleteSettleMs: 0,
        log: (line) => lines.push(line),
      }),
    };
    await a.engine.prepare();
    b = await simDevice(hub, clientB, ws.id, 'desktop', now);
    await a.fs.mkdir('/laptop/A');
    for (let i = 0; i < FILES; i++) await a.fs.writeFile(`/laptop/A/f${i}.txt`, body(i));
    await sync(a, b);
    expect(await count(b, 'A')).toBe(FILES);
    lines.length = 0;
  });
  afterEach(async () => {
    await hub.close();
  });

  const sync = async (...devices: SimDevice[]) => {
    for (let i = 0; i < 3; i++) for (const d of devices) await d.engine.syncUntilIdle();
  };
  const count = async (d: SimDevice, folder: string) =>
    (await d.fs.readdir(`${d.root}/${folder}`).catch(() => [])).length;
  const deleteAll = async () => {
    for (let i = 0; i < FILES; i++) await a.fs.unlink(`/laptop/A/f${i}.txt`);
  };

  it('holds 600 deletions, and B keeps its files until they are confirmed', async () => {
    await deleteAll();
    const round = await a.engine.syncUntilIdle();
    expect(round.heldDeletions).toBe(FILES);
    expect(round.unstable).toBe(0); // (they wait for a person, not for time)
    expect(lines.filter((l) => l.startsWith('holding'))).toEqual([
      expect.stringMatching(
        /^holding 600 local deletion\(s\): 600 files would be deleted at once \(more than 500\); nothing is deleted on the hub or other devices until you run `tandem sync \/laptop --confirm-deletions`/,
      ),
    ]);
    await sync(a, b);
    expect(await count(b, 'A')).toBe(FILES);
    // Said once, not every round.
    expect(lines.filter((l) => l.startsWith('holding'))).toHaveLength(1);

    a.store.setDeletionRequest('confirm');
    const sent = await a.engine.syncUntilIdle();
    expect(sent.heldDeletions).toBe(0);
    expect(a.store.heldDeletions().size).toBe(0);
    await sync(b);
    expect(await count(b, 'A')).toBe(0);
  });

  it('brings every held file back from the hub, byte for byte, on a restore', async () => {
    await deleteAll();
    await a.engine.syncUntilIdle();
    expect(a.engine.heldDeletions).toBe(FILES);
    a.store.setDeletionRequest('restore');
    const restored = await a.engine.syncUntilIdle();
    expect(restored.heldDeletions).toBe(0);
    for (let i = 0; i < FILES; i++)
      expect((await a.fs.readFile(`/laptop/A/f${i}.txt`)).toString()).toBe(body(i));
    await sync(a, b);
    expect(await a.fs.snapshot('/laptop')).toEqual(await b.fs.snapshot('/desktop'));
  });

  it('sends a moved folder of 600 files as a move, holding nothing', async () => {
    await a.fs.rename('/laptop/A', '/laptop/B');
    const round = await a.engine.syncUntilIdle();
    expect(round.heldDeletions).toBe(0);
    await sync(b);
    expect(await count(b, 'B')).toBe(FILES);
    expect(await b.fs.lstat('/desktop/A')).toBeUndefined();
  });

  it('applies the hub deletions as they come, holding nothing', async () => {
    // B's 600 deletions are held on B, then confirmed there; A applies them all at once.
    for (let i = 0; i < FILES; i++) await b.fs.unlink(`/desktop/A/f${i}.txt`);
    expect((await b.engine.syncUntilIdle()).heldDeletions).toBe(FILES);
    b.store.setDeletionRequest('confirm');
    await b.engine.syncUntilIdle();
    const round = await a.engine.syncUntilIdle();
    expect(round.heldDeletions).toBe(0);
    expect(await count(a, 'A')).toBe(0);
    expect(a.store.heldDeletions().size).toBe(0);
  });

  it('lets an everyday deletion through: 3 files', async () => {
    for (let i = 0; i < 3; i++) await a.fs.unlink(`/laptop/A/f${i}.txt`);
    expect((await a.engine.syncUntilIdle()).heldDeletions).toBe(0);
    await sync(b);
    expect(await count(b, 'A')).toBe(FILES - 3);
  });
});

describe('a folder of 600 files renamed, seen in two halves', () => {
  it('is one move: nothing held, nothing said of deletions', async () => {
    // A clock the test drives, and the half-second settle on: the round that sees only "A
    // is gone" must neither send nor hold 600 deletions.
    let clock = 1_700_000_000_000;
    const now = () => clock;
    const hub = await startSimHub(now);
    try {
      const client = await simAccount(hub, 'alice', 'laptop', true);
      const ws = await client.createWorkspace('docs');
      const a = await simDevice(hub, client, ws.id, 'laptop', now, 500);
      const lines: string[] = [];
      const engine = new SyncEngine({
        fs: a.fs,
        root: a.root,
        store: a.store,
        client,
        workspaceId: ws.id,
        deviceName: 'laptop',
        now,
        deleteSettleMs: 500,
        log: (line) => lines.push(line),
      });
      await engine.prepare();
      await a.fs.mkdir('/laptop/A');
      for (let i = 0; i < FILES; i++) await a.fs.writeFile(`/laptop/A/f${i}.txt`, body(i));
      clock += 10_000;
      await engine.round();
      const seen = (await client.changes(ws.id, 0)).head;
      await a.fs.rename('/laptop/A', '/laptop/B');
      const firstHalf = await engine.round(['A']);
      expect(firstHalf).toMatchObject({ heldDeletions: 0, unstable: FILES + 1 });
      expect(a.store.heldDeletions().size).toBe(0);
      clock += 50;
      await engine.round(['B']);
      clock += 1_000;
      const last = await engine.syncUntilIdle();
      expect(last.heldDeletions).toBe(0);
      expect(lines.filter((l) => /holding|deletion/.test(l))).toEqual([]);
      const feed = await client.changes(ws.id, seen);
      expect(feed.rows?.map((row) => [row.op, row.path])).toEqual([['move', 'B']]);
    } finally {
      await hub.close();
    }
  });
});

describe('a script deleting steadily, slower than the settle', () => {
  it('has its deletions judged as the whole they become: nothing sent, all held', async () => {
    // 40 files every 300 ms: each slice alone is far below the limits, and each has settled
    // before the script ends. Sent as they settle, most of them would have gone.
    let clock = 1_700_000_000_000;
    const now = () => clock;
    const hub = await startSimHub(now);
    try {
      const client = await simAccount(hub, 'alice', 'laptop', true);
      const ws = await client.createWorkspace('docs');
      const a = await simDevice(hub, client, ws.id, 'laptop', now, 500);
      for (let i = 0; i < FILES; i++) await a.fs.writeFile(`/laptop/f${i}.txt`, body(i));
      clock += 10_000;
      await a.engine.round();
      const head = (await client.changes(ws.id, 0)).head;
      for (let i = 0; i < FILES; i += 40) {
        const slice = Array.from({ length: 40 }, (_, j) => `f${i + j}.txt`);
        for (const name of slice) await a.fs.unlink(`/laptop/${name}`);
        await a.engine.round(slice);
        clock += 300;
      }
      clock += 1_000;
      const last = await a.engine.syncUntilIdle();
      expect(last.heldDeletions).toBe(FILES);
      expect((await client.changes(ws.id, 0)).head).toBe(head);
    } finally {
      await hub.close();
    }
  });
});

describe('a state database of the previous version (3)', () => {
  const FIXTURE = resolve(import.meta.dirname, '../fixtures/state-v3.db');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-state-v3-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const schema = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return {
        version: db.pragma('user_version', { simple: true }),
        tables: db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all(),
      };
    } finally {
      db.close();
    }
  };

  it('opens, gains the held deletions, and syncs on', async () => {
    let clock = 1_700_000_000_000;
    const now = () => (clock += 7);
    const hub = await startSimHub(now);
    try {
      const client = await simAccount(hub, 'alice', 'laptop', true);
      const ws = await client.createWorkspace('docs');
      const a = await simDevice(hub, client, ws.id, 'laptop', now);
      await a.fs.writeFile('/laptop/kept.txt', 'synced before the upgrade');
      const file = join(dir, 'state.db');
      const engineOn = (store: StateStore) =>
        new SyncEngine({
          fs: a.fs,
          root: a.root,
          store,
          client,
          workspaceId: ws.id,
          deviceName: 'laptop',
          now,
          deleteSettleMs: 0,
        });
      const before = new StateStore(file);
      await engineOn(before).syncUntilIdle();
      before.close();
      // Back to exactly what version 3 wrote (the schema of test/fixtures/state-v3.db, made
      // by the build of version 3): the table of version 4 dropped.
      const raw = new Database(file);
      raw.exec('DROP TABLE held_deletions');
      raw.pragma('user_version = 3');
      raw.close();
      // (A copy: SQLite would leave its -wal and -shm files beside the fixture.)
      const fixture = join(dir, 'fixture.db');
      copyFileSync(FIXTURE, fixture);
      expect(schema(file)).toEqual(schema(fixture));

      const store = new StateStore(file);
      expect(store.base.has('kept.txt')).toBe(true);
      expect(store.heldDeletions().size).toBe(0);
      const engine = engineOn(store);
      await a.fs.writeFile('/laptop/after.txt', 'written after the upgrade');
      await a.fs.unlink('/laptop/kept.txt');
      const round = await engine.syncUntilIdle();
      expect(round).toMatchObject({ planned: 0, unstable: 0, heldDeletions: 0 });
      expect(store.remote.has('after.txt')).toBe(true);
      expect(store.remote.has('kept.txt')).toBe(false);
      store.close();
      expect(schema(file).version).toBe(4);
    } finally {
      await hub.close();
    }
  });
});

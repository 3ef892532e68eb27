/**
 * Three simulated devices and the real hub app (SQLite in memory, reached through inject),
 * each device on an in-memory filesystem, driven through random sequences of creates,
 * modifications, touches (a new mtime alone), deletes, moves and renames, offline periods and
 * interleaved (even concurrent) sync rounds. After every run:
 *
 * - all devices converge to the hub's tree (same paths, kinds, bytes, links, mtimes);
 * - every version a device held when it synced is at a path on the devices, in a conflicted
 *   copy, or in the hub's journal.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { splitBuffer } from '../../src/core/chunking.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

const PATHS = [
  'a.txt',
  'b.txt',
  'd',
  'd/a.txt',
  'd/b.txt',
  'd/f',
  'd/f/a.txt',
  'e',
  'e/a.txt',
] as const;
const DEVICES = 3;

type Action =
  | { type: 'write'; dev: number; path: string }
  | { type: 'touch'; dev: number; path: string }
  | { type: 'mkdir'; dev: number; path: string }
  | { type: 'delete'; dev: number; path: string }
  | { type: 'move'; dev: number; from: string; to: string }
  | { type: 'sync'; dev: number }
  | { type: 'round'; dev: number }
  | { type: 'together'; a: number; b: number }
  | { type: 'offline'; dev: number }
  | { type: 'online'; dev: number };

const dev = fc.integer({ min: 0, max: DEVICES - 1 });
const path = fc.constantFrom(...PATHS);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('write' as const), dev, path }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('touch' as const), dev, path }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('mkdir' as const), dev, path }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('delete' as const), dev, path }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('move' as const), dev, from: path, to: path }),
  },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('sync' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('round' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('together' as const), a: dev, b: dev }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('offline' as const), dev }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('online' as const), dev }) },
);

const contentIdOfText = (text: string) =>
  manifestOf(splitBuffer(Buffer.from(text)).map((c) => ({ id: chunkIdOf(c), size: c.length })))
    .contentId;

describe('three devices converge through the hub', () => {
  let hub: SimHub;
  const clients: HubClient[] = [];
  let clock = 1_750_000_000_000;
  const now = () => (clock += 1013);
  let run = 0;

  beforeAll(async () => {
    hub = await startSimHub(now);
    clients.push(await simAccount(hub, 'pat', 'dev0', true));
    for (let i = 1; i < DEVICES; i++) clients.push(await simAccount(hub, 'pat', `dev${i}`, false));
  });
  afterAll(async () => {
    await hub.close();
  });

  it('for random sequences of edits, offline periods and interleavings', async () => {
    const scenario = async (actions: Action[]) => {
      const workspace = await clients[0]!.createWorkspace(`run-${run++}`);
      const devices: SimDevice[] = [];
      for (let i = 0; i < DEVICES; i++)
        devices.push(await simDevice(hub, clients[i]!, workspace.id, `dev${i}`, now));
      const online = devices.map(() => true);
      const mustKeep = new Set<string>();
      let counter = 0;

      const remember = async (d: SimDevice) => {
        for (const [p, v] of await d.fs.snapshot(d.root))
          if (v.kind === 'file' && !p.startsWith('.tandem')) mustKeep.add(v.data!);
      };
      const abs = (d: SimDevice, p: string) => `${d.root}/${p}`;
      const mkdirs = async (d: SimDevice, p: string) => {
        const parts = p.split('/');
        for (let i = 1; i < parts.length; i++) {
          const parent = abs(d, parts.slice(0, i).join('/'));
          const stat = await d.fs.lstat(parent);
          if (!stat) await d.fs.mkdir(parent);
          else if (stat.kind !== 'dir') return false;
        }
        return true;
      };
      const removeTree = async (d: SimDevice, p: string): Promise<void> => {
        const stat = await d.fs.lstat(abs(d, p));
        if (!stat) return;
        if (stat.kind === 'dir') {
          for (const name of await d.fs.readdir(abs(d, p))) await removeTree(d, `${p}/${name}`);
          await d.fs.rmdir(abs(d, p));
        } else await d.fs.unlink(abs(d, p));
      };

      for (const a of actions) {
        switch (a.type) {
          case 'write': {
            const d = devices[a.dev]!;
            if (!(await mkdirs(d, a.path))) break;
            const stat = await d.fs.lstat(abs(d, a.path));
            if (stat && stat.kind !== 'file') break;
            await d.fs.writeFile(abs(d, a.path), `${d.name} v${counter++}`);
            break;
          }
          case 'touch': {
            const d = devices[a.dev]!;
            const stat = await d.fs.lstat(abs(d, a.path));
            if (stat?.kind === 'file')
              await d.fs.utimes(abs(d, a.path), Date.UTC(2020, 0, 1) + 1000 * counter++);
            break;
          }
          case 'mkdir': {
            const d = devices[a.dev]!;
            if ((await mkdirs(d, a.path)) && !(await d.fs.lstat(abs(d, a.path))))
              await d.fs.mkdir(abs(d, a.path));
            break;
          }
          case 'delete':
            await removeTree(devices[a.dev]!, a.path);
            break;
          case 'move': {
            const d = devices[a.dev]!;
            if (a.to === a.from || a.to.startsWith(`${a.from}/`)) break;
            if (!(await d.fs.lstat(abs(d, a.from))) || (await d.fs.lstat(abs(d, a.to)))) break;
            if (!(await mkdirs(d, a.to))) break;
            await d.fs.rename(abs(d, a.from), abs(d, a.to));
            break;
          }
          case 'sync':
            if (online[a.dev]) {
              await remember(devices[a.dev]!);
              await devices[a.dev]!.engine.syncUntilIdle();
            }
            break;
          case 'round':
            if (online[a.dev]) await devices[a.dev]!.engine.round();
            break;
          case 'together': {
            const pair = [...new Set([a.a, a.b])].filter((i) => online[i]).map((i) => devices[i]!);
            for (const d of pair) await remember(d);
            await Promise.all(pair.map((d) => d.engine.syncUntilIdle()));
            break;
          }
          case 'offline':
            online[a.dev] = false;
            break;
          case 'online':
            online[a.dev] = true;
            break;
        }
      }

      // Everyone comes back online and syncs until nothing is left to do.
      for (const d of devices) await remember(d);
      for (let pass = 0; pass < 10; pass++) {
        let quiet = true;
        for (const d of devices) {
          const first = await d.engine.round();
          if (first.planned > 0) quiet = false;
          await d.engine.syncUntilIdle();
        }
        if (quiet) break;
      }

      // 1. Every device holds exactly the hub's tree.
      const trees = await Promise.all(
        devices.map(async (d) => {
          const snap = await d.fs.snapshot(d.root);
          for (const key of [...snap.keys()])
            if (key === '.tandem' || key.startsWith('.tandem/')) snap.delete(key);
          return snap;
        }),
      );
      for (const tree of trees.slice(1)) expect(tree).toEqual(trees[0]);
      const hubTree = await clients[0]!.changes(workspace.id, 0);
      const hubPaths = new Map(hubTree.snapshot!.map((r) => [r.path, r.entry]));
      expect([...hubPaths.keys()].sort()).toEqual([...trees[0]!.keys()].sort());
      for (const [p, v] of trees[0]!) {
        const entry = hubPaths.get(p)!;
        expect(entry.kind).toBe(v.kind);
        if (entry.kind !== 'file') continue;
        expect(entry.contentId).toBe(contentIdOfText(v.data!));
        for (const d of devices)
          expect((await d.fs.lstat(abs(d, p)))?.mtimeMs, `mtime of ${p} on ${d.name}`).toBe(
            entry.mtime,
          );
      }

      // 2. Nothing a device synced was lost.
      const onDisk = new Set(
        [...trees[0]!.values()].filter((v) => v.kind === 'file').map((v) => v.data!),
      );
      const journal = await hub.app.hub.db
        .selectFrom('journal')
        .select('content_id')
        .where('workspace_id', '=', workspace.id)
        .execute();
      const inJournal = new Set(journal.map((r) => r.content_id));
      for (const version of mustKeep) {
        const kept = onDisk.has(version) || inJournal.has(contentIdOfText(version));
        expect(kept, `version "${version}" was lost`).toBe(true);
      }
      for (const d of devices) d.store.close();
    };
    if (process.env.TANDEM_PROPERTY_REPLAY) {
      await scenario(JSON.parse(process.env.TANDEM_PROPERTY_REPLAY) as Action[]);
      return;
    }
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 40 }), scenario), {
      numRuns: Number(process.env.TANDEM_PROPERTY_RUNS ?? 60),
      ...(process.env.TANDEM_PROPERTY_SEED
        ? { seed: Number(process.env.TANDEM_PROPERTY_SEED) }
        : {}),
    });
  }, 300_000);
});

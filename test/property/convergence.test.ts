/**
 * Three simulated devices and the real hub app (SQLite in memory, reached through inject),
 * each device on an in-memory filesystem, driven through random sequences of creates,
 * modifications, touches (a new mtime alone), chmods (a new mode alone, of a file or folder),
 * deletes, moves and renames, offline periods and interleaved (even concurrent) sync rounds.
 * After every run:
 *
 * - all devices converge to the hub's tree (same paths, kinds, bytes, links, mtimes, modes);
 * - every version a device held when it synced is at a path on the devices, in a conflicted
 *   copy, or in the hub's journal.
 *
 * A second configuration gives one device a case-insensitive disk and the paths names that
 * differ only in case or in Unicode form (NFC and NFD): there, every device holds the hub's
 * tree under NFC, but for the hub paths the case-insensitive one cannot hold beside another,
 * each of which it lists as a problem.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { splitBuffer } from '../../src/core/chunking.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import { isCaseHeld } from '../../src/core/local-names.js';
import type { MemoryFileSystem } from '../../src/fs/memory-file-system.js';
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
/** Names that are one path but for case (on one disk) or Unicode form (on every disk). */
const NAME_PATHS = [
  'a.txt',
  'A.txt',
  'caf\u00e9.txt',
  'cafe\u0301.txt',
  'd',
  'D',
  'd/a.txt',
  'D/A.txt',
  'cafe\u0301',
  'cafe\u0301/a.txt',
  'caf\u00e9/a.txt',
] as const;
const DEVICES = 3;

interface Configuration {
  readonly name: string;
  readonly paths: readonly string[];
  /** Which devices have a case-insensitive disk. */
  readonly caseInsensitive: readonly boolean[];
  readonly runs: number;
}

const CONFIGURATIONS: readonly Configuration[] = [
  { name: 'three devices', paths: PATHS, caseInsensitive: [false, false, false], runs: 60 },
  {
    name: 'one case-insensitive disk, names that differ in case or Unicode form',
    paths: NAME_PATHS,
    caseInsensitive: [false, false, true],
    runs: 40,
  },
];

type Action =
  | { type: 'write'; dev: number; path: string }
  | { type: 'touch'; dev: number; path: string }
  | { type: 'chmod'; dev: number; path: string; mode: number }
  | { type: 'mkdir'; dev: number; path: string }
  | { type: 'delete'; dev: number; path: string }
  | { type: 'move'; dev: number; from: string; to: string }
  | { type: 'sync'; dev: number }
  | { type: 'round'; dev: number }
  | { type: 'together'; a: number; b: number }
  | { type: 'offline'; dev: number }
  | { type: 'online'; dev: number };

const dev = fc.integer({ min: 0, max: DEVICES - 1 });
const actionOf = (paths: readonly string[]): fc.Arbitrary<Action> => {
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ type: fc.constant('write' as const), dev, path }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('touch' as const), dev, path }) },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('chmod' as const),
        dev,
        path,
        mode: fc.constantFrom(0o600, 0o640, 0o644, 0o700, 0o750, 0o755, 0o664),
      }),
    },
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
};

const contentIdOfText = (text: string) =>
  manifestOf(splitBuffer(Buffer.from(text)).map((c) => ({ id: chunkIdOf(c), size: c.length })))
    .contentId;

describe.each(CONFIGURATIONS)('devices converge through the hub: $name', (config) => {
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
        devices.push(
          await simDevice(hub, clients[i]!, workspace.id, `dev${i}`, now, 0, {
            caseInsensitive: config.caseInsensitive[i]!,
          }),
        );
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
          case 'chmod': {
            const d = devices[a.dev]!;
            const stat = await d.fs.lstat(abs(d, a.path));
            if (stat?.kind === 'file' || stat?.kind === 'dir')
              await d.fs.chmod(abs(d, a.path), a.mode);
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

      // 1. Every device holds exactly the hub's tree (under NFC: a device keeps its own
      // spelling of a name), but for what a case-insensitive one cannot hold and lists.
      const diskNames = devices.map(() => new Map<string, string>());
      const trees = await Promise.all(
        devices.map(async (d, i) => {
          const snap: Awaited<ReturnType<MemoryFileSystem['snapshot']>> = new Map();
          for (const [key, value] of await d.fs.snapshot(d.root))
            if (key !== '.tandem' && !key.startsWith('.tandem/')) {
              snap.set(key.normalize('NFC'), value);
              diskNames[i]!.set(key.normalize('NFC'), key);
            }
          return snap;
        }),
      );
      const hubTree = await clients[0]!.changes(workspace.id, 0);
      const hubPaths = new Map(hubTree.snapshot!.map((r) => [r.path, r.entry]));
      for (const [i, d] of devices.entries()) {
        const tree = trees[i]!;
        const held = new Map<string, string>();
        for (const [p, problem] of d.store.problems) if (problem.kind === 'case') held.set(p, '');
        if (!config.caseInsensitive[i]) expect(held.size).toBe(0);
        const expected = [...hubPaths.keys()].filter((p) => !isCaseHeld(held, p));
        expect([...tree.keys()].sort(), `device ${i}`).toEqual(expected.sort());
        for (const [p, v] of tree) {
          const entry = hubPaths.get(p)!;
          expect(entry.kind).toBe(v.kind);
          if (entry.kind !== 'symlink') expect(v.mode, `mode of ${p}`).toBe(entry.mode);
          if (entry.kind !== 'file') continue;
          expect(entry.contentId).toBe(contentIdOfText(v.data!));
          const disk = abs(d, diskNames[i]!.get(p)!);
          expect((await d.fs.lstat(disk))?.mtimeMs, `mtime of ${p} on ${d.name}`).toBe(entry.mtime);
        }
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
    const actions = fc.array(actionOf(config.paths), { minLength: 5, maxLength: 40 });
    await fc.assert(fc.asyncProperty(actions, scenario), {
      numRuns: Number(process.env.TANDEM_PROPERTY_RUNS ?? config.runs),
      ...(process.env.TANDEM_PROPERTY_SEED
        ? { seed: Number(process.env.TANDEM_PROPERTY_SEED) }
        : {}),
    });
  }, 300_000);
});

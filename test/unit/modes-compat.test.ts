/**
 * Modes and the devices of the release before them (issue 18), through the hub's routes: such
 * a device is sent entries without a mode (its checks refuse a field they do not know), and
 * its puts, which carry none, never widen the mode a path has on the hub.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { chunkIdOf, manifestOf, type Manifest } from '../../src/core/hashing.js';
import type { Entry } from '../../src/core/entry.js';
import type { RemoteRecord } from '../../src/protocol/api.js';
import { simAccount, startSimHub, type SimHub } from '../helpers/sim.js';

describe('modes with devices of the release before them', () => {
  let hub: SimHub;
  let device: HubClient;
  let old: HubClient;
  let ws: string;
  let manifest: Manifest;

  const put = (path: string, base: number, entry: unknown) => ({
    op: 'put' as const,
    path,
    base,
    entry: entry as Entry,
  });
  const commit = async (client: HubClient, ops: ReturnType<typeof put>[]) =>
    (await client.commit(ws, { ops, manifests: [{ ...manifest, chunks: [...manifest.chunks] }] }))
      .results;
  const snapshot = async (client: HubClient) => {
    const page = await client.changes(ws, 0);
    return new Map((page.snapshot ?? []).map((r: RemoteRecord) => [r.path, r]));
  };
  const file = (mode?: number, executable = false, mtime = 1_700_000_000_000) => ({
    kind: 'file',
    contentId: manifest.contentId,
    size: manifest.size,
    executable,
    ...(mode !== undefined ? { mode } : {}),
    mtime,
  });

  beforeAll(async () => {
    hub = await startSimHub();
    device = await simAccount(hub, 'mina', 'laptop', true);
    old = await simAccount(hub, 'mina', 'old-desktop', false, []);
    ws = (await device.createWorkspace('keys')).id;
    const bytes = randomBytes(100);
    manifest = manifestOf([{ id: chunkIdOf(bytes), size: bytes.length }]);
    await device.uploadChunks(ws, [{ id: chunkIdOf(bytes), bytes }]);
    const results = await commit(device, [
      put('ssh', 0, { kind: 'dir', mode: 0o700 }),
      put('ssh/key', 0, file(0o600)),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
  });
  afterAll(async () => hub.close());

  it('sends a device that knows modes its modes, and one that does not entries it accepts', async () => {
    const mine = await snapshot(device);
    expect(mine.get('ssh')?.entry).toEqual({ kind: 'dir', mode: 0o700 });
    expect(mine.get('ssh/key')?.entry).toMatchObject({ mode: 0o600, executable: false });
    expect(device.hubModes).toBe(true);
    // The fields that release's checks allow, exactly, and a hub that says it stores modes.
    const theirs = await snapshot(old);
    expect(theirs.get('ssh')?.entry).toEqual({ kind: 'dir' });
    expect(Object.keys(theirs.get('ssh/key')!.entry).sort()).toEqual(
      ['contentId', 'executable', 'kind', 'mtime', 'size'].sort(),
    );
    expect(old.hubModes).toBe(false);
    const page = await old.changes(ws, 1);
    expect(page.modes).toBe(true);
    for (const row of page.rows ?? []) expect(row.entry).not.toHaveProperty('mode');
  });

  it('keeps the mode of a path an old device edits, and gives a new path the mode it wrote', async () => {
    let at = await snapshot(device);
    const [edited, added, folder] = await commit(old, [
      put('ssh/key', at.get('ssh/key')!.seq, file(undefined, false, 1_700_000_001_000)),
      put('notes.txt', 0, file(undefined)),
      put('ssh', at.get('ssh')!.seq, { kind: 'dir' }),
    ]);
    expect([edited?.ok, added?.ok, folder?.ok]).toEqual([true, true, true]);
    at = await snapshot(device);
    expect(at.get('ssh/key')?.entry).toMatchObject({ mode: 0o600, mtime: 1_700_000_001_000 });
    expect(at.get('notes.txt')?.entry).toMatchObject({ mode: 0o644 });
    expect(at.get('ssh')?.entry).toEqual({ kind: 'dir', mode: 0o700 });

    // Made executable there: execute added where read is, nothing else.
    const [flipped] = await commit(old, [
      put('ssh/key', at.get('ssh/key')!.seq, file(undefined, true)),
    ]);
    expect(flipped?.ok).toBe(true);
    at = await snapshot(device);
    expect(at.get('ssh/key')?.entry).toMatchObject({ mode: 0o700, executable: true });
  });

  it('refuses an executable bit that disagrees with the mode', async () => {
    const at = await snapshot(device);
    const [refused] = await commit(device, [
      put('notes.txt', at.get('notes.txt')!.seq, file(0o644, true)),
    ]);
    expect(refused).toMatchObject({ ok: false, reason: 'invalid' });
  });
});

/**
 * Uploads nobody commits are reclaimed: the real hub app on a real SQLite file and a real
 * disk chunk store, with a clock the test moves past the upload lease.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubClient } from '../../src/agent/hub-client.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import type { ChunkId } from '../../src/core/ids.js';
import { buildApp, type HubApp } from '../../src/server/app.js';
import { openDatabase } from '../../src/server/db/open.js';
import { reclaimOrphans } from '../../src/server/services/reclaim.js';
import { DiskChunkStore } from '../../src/store/disk-chunk-store.js';
import { InjectTransport } from '../helpers/sim.js';

const LEASE_MS = 60_000;

describe('reclaiming uploads nobody committed', () => {
  let dir: string;
  let app: HubApp;
  let store: DiskChunkStore;
  let close: () => Promise<void>;
  let now = 1_000_000;
  let alice: HubClient;
  let ws: string;
  let other: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-reclaim-'));
    const { db } = await openDatabase({ kind: 'sqlite', file: join(dir, 'tandem.db') });
    store = await DiskChunkStore.open(join(dir, 'chunks'));
    app = await buildApp({ db, chunks: store, now: () => now, uploadLeaseMs: LEASE_MS });
    close = async () => {
      await app.close();
      await db.destroy();
      await store.close();
    };
    const transport = new InjectTransport(app);
    const auth = await new HubClient(transport).register({
      user: 'alice',
      password: 'correct horse battery',
      deviceName: 'a',
    });
    alice = new HubClient(transport, auth.token);
    ws = (await alice.createWorkspace('reclaim')).id;
    other = (await alice.createWorkspace('other')).id;
  });
  afterEach(async () => {
    await close();
    await rm(dir, { recursive: true, force: true });
  });

  const chunk = (n: number) => {
    const bytes = randomBytes(n);
    return { id: chunkIdOf(bytes), bytes };
  };
  const commitFile = async (workspace: string, path: string, c: { id: ChunkId; bytes: Buffer }) => {
    const manifest = manifestOf([{ id: c.id, size: c.bytes.length }]);
    const entry = {
      kind: 'file' as const,
      contentId: manifest.contentId,
      size: manifest.size,
      executable: false,
      mtime: 1_700_000_000_000,
    };
    const result = await alice.commit(workspace, {
      ops: [{ op: 'put', path, base: 0, entry }],
      manifests: [{ ...manifest, chunks: [...manifest.chunks] }],
    });
    expect(result.results[0]).toMatchObject({ ok: true });
  };

  it('deletes an uncommitted chunk once its lease expires, and frees its pack', async () => {
    const orphan = chunk(5000);
    const kept = chunk(6000);
    await alice.uploadChunks(ws, [orphan]);
    await alice.uploadChunks(ws, [kept]);
    await commitFile(ws, 'kept.bin', kept);
    expect(await readdir(join(dir, 'chunks/packs'))).toHaveLength(2);

    // Within the lease nothing goes.
    now += LEASE_MS - 1;
    expect(await reclaimOrphans(app.hub)).toEqual({ leases: 0, chunks: 0 });
    expect(await store.has([orphan.id])).toEqual(new Set([orphan.id]));

    now += 2;
    expect(await reclaimOrphans(app.hub)).toEqual({ leases: 2, chunks: 1 });
    expect(await store.has([orphan.id, kept.id])).toEqual(new Set([kept.id]));
    expect(await readdir(join(dir, 'chunks/packs'))).toHaveLength(1);
    // The workspace lacks it again, the committed one is still its own and readable.
    expect([...(await alice.missing(ws, [orphan.id, kept.id]))]).toEqual([orphan.id]);
    const [fetched] = await collect(alice.fetchChunks(ws, [kept.id]));
    expect(fetched!.bytes.equals(kept.bytes)).toBe(true);
    // An upload of the reclaimed chunk stores it again.
    await alice.uploadChunks(ws, [orphan]);
    expect([...(await alice.missing(ws, [orphan.id]))]).toEqual([]);
  });

  it('keeps a chunk another workspace committed or still holds a lease on', async () => {
    const shared = chunk(3000);
    const leasedTwice = chunk(4000);
    await alice.uploadChunks(ws, [shared, leasedTwice]);
    await alice.uploadChunks(other, [shared]);
    await commitFile(other, 'shared.bin', shared);
    now += LEASE_MS / 2;
    await alice.uploadChunks(other, [leasedTwice]); // a later lease, elsewhere
    now += LEASE_MS / 2 + 1;
    await reclaimOrphans(app.hub);
    expect(await store.has([shared.id, leasedTwice.id])).toEqual(
      new Set([shared.id, leasedTwice.id]),
    );
    // The first workspace's leases expired: those chunks are missing for it, not for `other`.
    expect(new Set(await alice.missing(ws, [shared.id, leasedTwice.id]))).toEqual(
      new Set([shared.id, leasedTwice.id]),
    );
    expect([...(await alice.missing(other, [shared.id, leasedTwice.id]))]).toEqual([]);
    now += LEASE_MS;
    await reclaimOrphans(app.hub);
    expect(await store.has([shared.id, leasedTwice.id])).toEqual(new Set([shared.id]));
  });

  it('lets a commit that lost its lease to a reclaim fail as missing content, never link a deleted chunk', async () => {
    const late = chunk(2000);
    await alice.uploadChunks(ws, [late]);
    now += LEASE_MS + 1;
    await reclaimOrphans(app.hub);
    const manifest = manifestOf([{ id: late.id, size: late.bytes.length }]);
    const result = await alice.commit(ws, {
      ops: [
        {
          op: 'put',
          path: 'late.bin',
          base: 0,
          entry: {
            kind: 'file',
            contentId: manifest.contentId,
            size: manifest.size,
            executable: false,
            mtime: 1_700_000_000_000,
          },
        },
      ],
      manifests: [{ ...manifest, chunks: [...manifest.chunks] }],
    });
    expect(result.results[0]).toMatchObject({ ok: false, reason: 'missing-content' });
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

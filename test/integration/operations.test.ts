/**
 * The operable hub: `/health` says whether the database and the chunk store answer (503 when
 * one does not), `/api/v1/openapi.json` describes every route of the route table as an
 * OpenAPI 3.1 document, `/metrics` counts what the hub does in Prometheus' text format. Each
 * against a real `tandem server` process, or the app on a real SQLite file and chunk folder,
 * made really unavailable (a folder moved away, a database closed), never mocked.
 */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { openDatabase } from '../../src/server/db/open.js';
import { DiskChunkStore } from '../../src/store/disk-chunk-store.js';
import { startHub, stopAll, waitFor } from '../helpers/processes.js';

afterAll(stopAll);

interface Health {
  ok: boolean;
  status: string;
  checks: Record<string, { status: string; ms: number }>;
  error?: { code: string; message: string; requestId: string };
}

describe('/health', () => {
  it("answers 503 naming the chunk store while its folder is gone, and 200 once it is back (a real hub's data moved away)", async () => {
    const hub = await startHub();
    const up = await fetch(`${hub.url}/health`);
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({
      ok: true,
      status: 'up',
      checks: { database: { status: 'up' }, chunkStore: { status: 'up' } },
    });

    const chunks = join(hub.dataDir, 'chunks');
    await rename(chunks, `${chunks}.away`);
    const down = await fetch(`${hub.url}/health`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as Health;
    expect(body).toMatchObject({
      ok: false,
      status: 'down',
      checks: { database: { status: 'up' }, chunkStore: { status: 'down' } },
      error: { code: 'HUB_UNAVAILABLE' },
    });
    expect(body.error!.message).toMatch(/chunk store is down/);
    // Anyone may ask: the answer names no path of the hub's; the log has the reason.
    expect(JSON.stringify(body)).not.toContain(hub.dataDir);
    expect(down.headers.get('x-request-id')).toBe(body.error!.requestId);
    await waitFor(
      () => hub.output().includes(body.error!.requestId) && hub.output().includes('chunkStore'),
      { what: () => `the reason in the hub's log: ${hub.output()}` },
    );
    // The older address answers the same.
    expect((await fetch(`${hub.url}/api/v1/health`)).status).toBe(503);

    await rename(`${chunks}.away`, chunks);
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    await hub.stop();
  });

  it('answers 503 naming the database once the database is closed under the app', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-health-'));
    const { db } = await openDatabase({ kind: 'sqlite', file: join(dir, 'tandem.db') });
    const chunks = await DiskChunkStore.open(join(dir, 'chunks'));
    const app = await buildApp({ db, chunks });
    try {
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      await db.destroy();
      const down = await app.inject({ method: 'GET', url: '/health' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({
        ok: false,
        checks: { database: { status: 'down' }, chunkStore: { status: 'up' } },
        error: { code: 'HUB_UNAVAILABLE' },
      });
      expect(down.json<Health>().error!.message).toMatch(/database is down/);
    } finally {
      await app.close();
      await chunks.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

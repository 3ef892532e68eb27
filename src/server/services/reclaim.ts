/**
 * Reclaiming uploads nobody committed. Every chunk uploaded into a workspace holds a lease
 * there (services/chunks.ts); a commit links the chunks it uses to its workspace for good.
 * Once a lease has expired, its chunk is deleted from the store unless some workspace links
 * it or still holds an unexpired lease on it, so an editor cannot fill the hub's disk with
 * chunks it never commits.
 *
 * The fence against commits: each batch runs in one database transaction, which on SQLite
 * holds the hub's one connection (and on PostgreSQL would take the same rows' locks), from
 * the check that a chunk is unused to its deletion from the store. A commit checks
 * possession and links its chunks inside its own transaction, so it either ran first (the
 * chunk is linked and kept) or runs after (the lease is gone, and the chunk counts as
 * missing: the device uploads it again). An upload that arrives meanwhile may find the chunk
 * still stored and skip writing it; its lease then names a chunk that is gone, which every
 * reader checks (missing answers and commits ask the store), so it too is uploaded again.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ChunkId } from '../../core/ids.js';
import type { HubContext } from '../context.js';

/** Leases looked at per transaction. */
const BATCH = 2000;

export interface Reclaimed {
  /** Expired leases removed. */
  readonly leases: number;
  /** Chunks deleted from the store (no workspace linked or leased them any more). */
  readonly chunks: number;
}

/** Removes expired leases and deletes the chunks nothing uses any more. */
export async function reclaimOrphans(ctx: HubContext): Promise<Reclaimed> {
  let leases = 0;
  let chunks = 0;
  for (;;) {
    const batch = await ctx.db.transaction().execute(async (trx) => {
      const now = ctx.now();
      const expired = await trx
        .selectFrom('upload_leases')
        .select('chunk_id')
        .where('expires_at', '<=', now)
        .orderBy('expires_at')
        .limit(BATCH)
        .execute();
      if (expired.length === 0) return { leases: 0, chunks: 0 };
      const ids = [...new Set(expired.map((row) => row.chunk_id))];
      const removed = await trx
        .deleteFrom('upload_leases')
        .where('expires_at', '<=', now)
        .where('chunk_id', 'in', ids)
        .executeTakeFirst();
      const used = new Set<string>();
      for (const row of await trx
        .selectFrom('workspace_chunks')
        .select('chunk_id')
        .where('chunk_id', 'in', ids)
        .execute())
        used.add(row.chunk_id);
      for (const row of await trx
        .selectFrom('upload_leases')
        .select('chunk_id')
        .where('chunk_id', 'in', ids)
        .execute())
        used.add(row.chunk_id);
      const orphans = ids.filter((id) => !used.has(id)) as ChunkId[];
      await ctx.chunks.delete(orphans);
      return { leases: Number(removed.numDeletedRows), chunks: orphans.length };
    });
    leases += batch.leases;
    chunks += batch.chunks;
    if (batch.leases < BATCH) return { leases, chunks };
  }
}

/**
 * Runs `reclaimOrphans` every quarter of the lease time (at least every second, at most every
 * 10 minutes), one run at a time. Returns a stop that waits for a run under way.
 */
export function startReclaimer(ctx: HubContext, log: FastifyBaseLogger): () => Promise<void> {
  const every = Math.min(Math.max(ctx.uploadLeaseMs / 4, 1_000), 10 * 60_000);
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = reclaimOrphans(ctx)
      .then(({ leases, chunks }) => {
        if (chunks > 0)
          log.info({ leases, chunks }, 'reclaimed chunks uploaded but never committed');
      })
      .catch((error: unknown) => log.error({ err: error }, 'reclaiming uploads failed'))
      .finally(() => {
        running = undefined;
      });
  }, every);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

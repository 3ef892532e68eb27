/**
 * Chunk and manifest transfer. Every uploaded chunk is hashed by the hub and rejected if its
 * bytes do not match its id. Storage is deduplicated across the hub, transfer never is: a
 * chunk is readable through a workspace, and counts as present for it, only if one of its
 * writers uploaded it there or a commit there links it.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Readable } from 'node:stream';
import { chunkIdOfParts } from '../../core/hashing.js';
import type { ChunkId, ContentId } from '../../core/ids.js';
import type { ManifestsResponse } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import { FrameDecoder, splitChunkFrame } from '../../protocol/frames.js';
import { MAX_CHUNK_BYTES, type StoredChunk } from '../../store/chunk-store.js';
import type { HubContext } from '../context.js';
import { LAZY_WRITE } from '../db/open.js';
import type { Database } from '../db/schema.js';

/** How long a chunk uploaded into a workspace counts as its own without a commit (24 h). */
export const UPLOAD_LEASE_MS = 24 * 60 * 60_000;

/** Ids per SQL statement (SQLite allows 32,766 variables; PostgreSQL 65,535). */
const IDS_PER_QUERY = 500;

/**
 * The ids of `ids` that the workspace lacks: not in its possession (see possessed), or not
 * stored. The answer says nothing about other workspaces: a chunk stored for someone else is
 * missing here until one of this workspace's writers uploads it.
 */
export async function missingChunks(
  ctx: HubContext,
  workspaceId: string,
  ids: readonly ChunkId[],
): Promise<ChunkId[]> {
  const unique = [...new Set(ids)];
  const owned = await possessed(ctx.db, workspaceId, unique, ctx.now());
  const stored = await ctx.chunks.has(unique.filter((id) => owned.has(id)));
  return unique.filter((id) => !stored.has(id));
}

/**
 * The subset of `ids` the workspace possesses: linked to it by a commit there, or uploaded
 * into it by one of its writers under a lease that has not expired. Only these are readable
 * through the workspace and count as present for it: knowing a chunk's hash is no proof of
 * having its bytes. (Whether the bytes are still stored is the chunk store's to say.)
 */
export async function possessed(
  db: Kysely<Database> | Transaction<Database>,
  workspaceId: string,
  ids: readonly ChunkId[],
  now: number,
): Promise<Set<ChunkId>> {
  const found = new Set<ChunkId>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += IDS_PER_QUERY) {
    const slice = unique.slice(i, i + IDS_PER_QUERY);
    const linked = await db
      .selectFrom('workspace_chunks')
      .select('chunk_id')
      .where('workspace_id', '=', workspaceId)
      .where('chunk_id', 'in', slice)
      .execute();
    for (const row of linked) found.add(row.chunk_id as ChunkId);
    const rest = slice.filter((id) => !found.has(id));
    if (rest.length === 0) continue;
    const leased = await db
      .selectFrom('upload_leases')
      .select('chunk_id')
      .where('workspace_id', '=', workspaceId)
      .where('chunk_id', 'in', rest)
      .where('expires_at', '>', now)
      .execute();
    for (const row of leased) found.add(row.chunk_id as ChunkId);
  }
  return found;
}

/**
 * Gives the workspace a lease on chunks being uploaded into it (or extends one). The write is
 * lazy: it costs no fsync of its own, and a crash that loses it only makes the chunks missing
 * for the workspace again (they are uploaded again); the commit that uses them is durable,
 * and so is everything written before it.
 */
async function lease(ctx: HubContext, workspaceId: string, ids: readonly ChunkId[]) {
  const expires = ctx.now() + ctx.uploadLeaseMs;
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const rows = ids
      .slice(i, i + IDS_PER_QUERY)
      .map((id) => sql`(${workspaceId}, ${id}, ${expires})`);
    await sql`${sql.raw(LAZY_WRITE)} INSERT INTO upload_leases (workspace_id, chunk_id, expires_at) VALUES ${sql.join(rows)} ON CONFLICT (workspace_id, chunk_id) DO UPDATE SET expires_at = excluded.expires_at`.execute(
      ctx.db,
    );
  }
}

/**
 * Reads framed chunks from `body`, verifies each against its hash, leases them to the
 * workspace and stores them (durable by the time a commit uses them). Returns how many chunks
 * arrived. Stores in batches so a large upload never sits in memory whole. (The route let
 * only the workspace's editors call it.)
 */
export async function receiveChunks(
  ctx: HubContext,
  workspaceId: string,
  body: Readable,
  maxBytes: number,
): Promise<number> {
  const decoder = new FrameDecoder(MAX_CHUNK_BYTES + 32);
  let pending: StoredChunk[] = [];
  let pendingBytes = 0;
  let received = 0;
  let total = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    // The lease comes first, so no stored chunk is ever without one (a chunk nobody ever
    // commits is then reclaimed when its lease expires: see reclaim.ts).
    await lease(ctx, workspaceId, [...new Set(batch.map((c) => c.id))]);
    // Durable by the commit that uses them (ChunkStore.sync): an upload writes no database
    // row that needs its own fsync.
    await ctx.chunks.write(batch);
  };
  try {
    for await (const data of body) {
      total += (data as Buffer).length;
      if (total > maxBytes)
        throw TandemError.of('PAYLOAD_TOO_LARGE', `${maxBytes} bytes per request`);
      // Frames are kept as the views of the received buffers that hold them: a chunk is hashed
      // and written part by part, never copied into one buffer (which cost the hub a copy and
      // a garbage collection every few dozen megabytes).
      for (const frame of decoder.pushParts(data as Buffer)) {
        // Each frame is [32-byte id][bytes]; the id is checked against the bytes.
        const split = splitChunkFrame(frame);
        if (!split) throw TandemError.of('BAD_REQUEST', 'a chunk frame is shorter than its id');
        const { id, parts: bytes, size } = split;
        if (chunkIdOfParts(bytes) !== id) throw TandemError.of('CHUNK_MISMATCH', id);
        pending.push({ id, bytes });
        pendingBytes += size;
        received++;
        ctx.stats.chunksIn++;
        ctx.stats.chunkBytesIn += size;
        if (pendingBytes >= 16 * 1024 * 1024) await flush();
      }
    }
  } catch (error) {
    if (error instanceof RangeError) throw TandemError.of('BAD_REQUEST', error.message);
    throw error;
  }
  if (!decoder.idle)
    throw TandemError.of('BAD_REQUEST', 'the upload ended in the middle of a chunk');
  await flush();
  return received;
}

/** The subset of `ids` readable through the workspace (see possessed). */
export function chunksInWorkspace(
  ctx: HubContext,
  workspaceId: string,
  ids: readonly ChunkId[],
): Promise<Set<ChunkId>> {
  return possessed(ctx.db, workspaceId, ids, ctx.now());
}

/** Manifests of contents used in the workspace; unknown ids are left out. */
export async function manifests(
  ctx: HubContext,
  workspaceId: string,
  ids: readonly ContentId[],
): Promise<ManifestsResponse> {
  const out: ManifestsResponse['manifests'][number][] = [];
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const slice = unique.slice(i, i + 500);
    const used = await ctx.db
      .selectFrom('journal')
      .select('content_id')
      .distinct()
      .where('workspace_id', '=', workspaceId)
      .where('content_id', 'in', slice)
      .execute();
    const usable = used.map((u) => u.content_id!).filter(Boolean);
    if (usable.length === 0) continue;
    const rows = await ctx.db
      .selectFrom('contents')
      .selectAll()
      .where('id', 'in', usable)
      .execute();
    for (const row of rows) {
      const chunks = (JSON.parse(row.chunks) as [string, number][]).map(([id, size]) => ({
        id: id as ChunkId,
        size,
      }));
      out.push({ contentId: row.id as ContentId, size: Number(row.size), chunks });
    }
  }
  return { manifests: out };
}

/**
 * Chunk and manifest transfer. Every uploaded chunk is hashed by the hub and rejected if its
 * bytes do not match its id; a chunk is readable through a workspace only once a commit in
 * that workspace refers to it, or for a while after an upload in it previewed the chunk.
 */
import type { Readable } from 'node:stream';
import { chunkIdOfParts } from '../../core/hashing.js';
import type { ChunkId, ContentId } from '../../core/ids.js';
import type { ManifestsResponse } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import { FrameDecoder, splitChunkFrame } from '../../protocol/frames.js';
import { MAX_CHUNK_BYTES, type StoredChunk } from '../../store/chunk-store.js';
import type { HubContext } from '../context.js';

/** The ids of `ids` that the hub does not store. */
export async function missingChunks(ctx: HubContext, ids: readonly ChunkId[]): Promise<ChunkId[]> {
  const unique = [...new Set(ids)];
  const present = await ctx.chunks.has(unique);
  return unique.filter((id) => !present.has(id));
}

/**
 * Reads framed chunks from `body`, verifies each against its hash and stores them (durable
 * by the time a commit uses them). Returns how many chunks arrived. Stores in batches so a
 * large upload never sits in memory whole. (The caller checked the editor role.)
 */
export async function receiveChunks(
  ctx: HubContext,
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
    // Durable, and linked to the workspace, by the commit that uses them (ChunkStore.sync):
    // an upload writes no database row, so it costs no fsync of the database.
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

/**
 * True when the chunk belongs to the workspace: a commit in it refers to the chunk, or an
 * upload under way in it previewed the chunk.
 */
export async function chunkInWorkspace(
  ctx: HubContext,
  workspaceId: string,
  id: ChunkId,
): Promise<boolean> {
  if (ctx.previews.has(workspaceId, id)) return true;
  const row = await ctx.db
    .selectFrom('workspace_chunks')
    .select('chunk_id')
    .where('workspace_id', '=', workspaceId)
    .where('chunk_id', '=', id)
    .executeTakeFirst();
  return row !== undefined;
}

/** The subset of `ids` that belongs to the workspace (see chunkInWorkspace). */
export async function chunksInWorkspace(
  ctx: HubContext,
  workspaceId: string,
  ids: readonly ChunkId[],
): Promise<Set<ChunkId>> {
  const found = new Set<ChunkId>();
  const unique: ChunkId[] = [];
  for (const id of new Set(ids)) {
    if (ctx.previews.has(workspaceId, id)) found.add(id);
    else unique.push(id);
  }
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await ctx.db
      .selectFrom('workspace_chunks')
      .select('chunk_id')
      .where('workspace_id', '=', workspaceId)
      .where('chunk_id', 'in', unique.slice(i, i + 500))
      .execute();
    for (const row of rows) found.add(row.chunk_id as ChunkId);
  }
  return found;
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

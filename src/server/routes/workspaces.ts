/**
 * Workspace routes: listing, renaming and deleting, members, the change feed, chunks, upload previews, manifests and
 * commits.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { BufferPool } from '../../core/buffer-pool.js';
import type { ChunkId, ContentId } from '../../core/ids.js';
import { checkPath } from '../../core/paths.js';
import {
  FEATURES_HEADER,
  hasFeature,
  MAX_CHUNK_BATCH_BYTES,
  MAX_FEED_PAGE,
  MAX_HISTORY_ROWS,
  MAX_JSON_BYTES,
  type CommitRequest,
  type IdList,
  type Role,
  type UploadPreview,
} from '../../protocol/api.js';
import {
  AddMemberSchema,
  ChangesQuerySchema,
  ChunkParamsSchema,
  CommitRequestSchema,
  CreateWorkspaceSchema,
  HistoryQuerySchema,
  IdListSchema,
  MissingQuerySchema,
  MemberParamsSchema,
  UploadPreviewSchema,
  WorkspaceParamsSchema,
} from '../../protocol/schemas.js';
import { TandemError } from '../../protocol/errors.js';
import { chunkFrameHead } from '../../protocol/frames.js';
import { READ_RUN_BYTES } from '../../store/chunk-store.js';
import { callerOf } from '../access.js';
import type { HubContext } from '../context.js';
import { chunksInWorkspace, manifests, missingChunks, receiveChunks } from '../services/chunks.js';
import { checkQuota } from '../services/quotas.js';
import { changes, commit, history } from '../services/commits.js';
import { previewUpload } from '../services/previews.js';
import { withoutModes } from '../services/rows.js';
import {
  createWorkspace,
  deleteWorkspace,
  leaveWorkspace,
  listMembers,
  listWorkspaces,
  removeMember,
  renameWorkspace,
  setMember,
} from '../services/workspaces.js';

type WithId = { Params: { id: string } };

/** Body limits: id lists of MAX_IDS_PER_QUERY ids (~1.4 MB), previews (~0.4 MB), member changes. */
const ID_LIST_BYTES = 2 * 1024 * 1024;
const PREVIEW_BYTES = 1024 * 1024;
const SMALL_BODY_BYTES = 16 * 1024;

export function registerWorkspaceRoutes(app: FastifyInstance, ctx: HubContext): void {
  // Pack reads for downloads, reused across requests (a few runs per response are in flight).
  const fetchBuffers = new BufferPool(READ_RUN_BYTES, 4);

  app.get('/api/v1/workspaces', { config: { access: 'signed-in' } }, async (request) => ({
    workspaces: await listWorkspaces(ctx, callerOf(request)),
  }));

  app.post<{ Body: { name: string } }>(
    '/api/v1/workspaces',
    {
      config: { access: 'signed-in' },
      bodyLimit: SMALL_BODY_BYTES,
      schema: { body: CreateWorkspaceSchema },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createWorkspace(ctx, callerOf(request), request.body.name.normalize('NFC'))),
  );

  app.patch<WithId & { Body: { name: string } }>(
    '/api/v1/workspaces/:id',
    {
      config: { access: 'owner' },
      bodyLimit: SMALL_BODY_BYTES,
      schema: { params: WorkspaceParamsSchema, body: CreateWorkspaceSchema },
    },
    async (request, reply) => {
      const name = request.body.name.normalize('NFC');
      await renameWorkspace(ctx, callerOf(request), request.params.id, name);
      return reply.status(204).send();
    },
  );

  app.delete<WithId>(
    '/api/v1/workspaces/:id',
    { config: { access: 'owner' }, schema: { params: WorkspaceParamsSchema } },
    async (request, reply) => {
      await deleteWorkspace(ctx, request.params.id);
      return reply.status(204).send();
    },
  );

  app.get<WithId>(
    '/api/v1/workspaces/:id/members',
    { config: { access: 'viewer' }, schema: { params: WorkspaceParamsSchema } },
    async (request) => ({ members: await listMembers(ctx, request.params.id) }),
  );

  // Any member may give up their own access (but the last owner: see leaveWorkspace).
  app.post<WithId>(
    '/api/v1/workspaces/:id/leave',
    { config: { access: 'viewer' }, schema: { params: WorkspaceParamsSchema } },
    async (request, reply) => {
      await leaveWorkspace(ctx, callerOf(request), request.params.id);
      return reply.status(204).send();
    },
  );

  app.put<WithId & { Body: { user: string; role: Role } }>(
    '/api/v1/workspaces/:id/members',
    {
      config: { access: 'owner' },
      bodyLimit: SMALL_BODY_BYTES,
      schema: { params: WorkspaceParamsSchema, body: AddMemberSchema },
    },
    async (request, reply) => {
      await setMember(ctx, request.params.id, request.body.user, request.body.role);
      return reply.status(204).send();
    },
  );

  app.delete<{ Params: { id: string; user: string } }>(
    '/api/v1/workspaces/:id/members/:user',
    { config: { access: 'owner' }, schema: { params: MemberParamsSchema } },
    async (request, reply) => {
      await removeMember(ctx, request.params.id, request.params.user);
      return reply.status(204).send();
    },
  );

  app.get<WithId & { Querystring: { since?: string; limit?: string } }>(
    '/api/v1/workspaces/:id/changes',
    {
      config: { access: 'viewer' },
      schema: { params: WorkspaceParamsSchema, querystring: ChangesQuerySchema },
    },
    async (request) => {
      const since = queryNumber(request.query.since, 'since', 0, Number.MAX_SAFE_INTEGER, 0);
      const limit = queryNumber(request.query.limit, 'limit', 1, MAX_FEED_PAGE, 10_000);
      const page = await changes(ctx, request.params.id, since, limit);
      // A device of the release before modes refuses entries with a field it does not know.
      return hasFeature(request.headers[FEATURES_HEADER], 'modes')
        ? { ...page, modes: true }
        : { ...withoutModes(page), modes: true };
    },
  );

  app.get<WithId & { Querystring: { path: string; limit?: string } }>(
    '/api/v1/workspaces/:id/history',
    {
      config: { access: 'viewer' },
      schema: { params: WorkspaceParamsSchema, querystring: HistoryQuerySchema },
    },
    async (request) => {
      const path = checkPath(request.query.path);
      if (!path.ok)
        throw TandemError.of('INVALID_PATH', JSON.stringify(request.query.path), path.reason);
      const limit = queryNumber(request.query.limit, 'limit', 1, MAX_HISTORY_ROWS, 100);
      return { rows: await history(ctx, request.params.id, path.path, limit) };
    },
  );

  app.post<WithId & { Body: IdList; Querystring: { growth?: string } }>(
    '/api/v1/workspaces/:id/chunks/missing',
    {
      config: { access: 'editor' },
      bodyLimit: ID_LIST_BYTES,
      schema: {
        params: WorkspaceParamsSchema,
        querystring: MissingQuerySchema,
        body: IdListSchema,
      },
    },
    async (request) => {
      // Where an upload begins: files that would take the owner past their quota are refused.
      const growth = queryNumber(request.query.growth, 'growth', 0, Number.MAX_SAFE_INTEGER, 0);
      await checkQuota(ctx, request.params.id, growth);
      return {
        missing: await missingChunks(ctx, request.params.id, request.body.ids as ChunkId[]),
      };
    },
  );

  app.post<WithId>(
    '/api/v1/workspaces/:id/chunks',
    {
      config: { access: 'editor' },
      bodyLimit: MAX_CHUNK_BATCH_BYTES,
      schema: { params: WorkspaceParamsSchema },
    },
    async (request) => {
      if (request.headers['content-type'] !== 'application/octet-stream') {
        throw TandemError.of('UNSUPPORTED_MEDIA', 'chunk uploads are application/octet-stream');
      }
      await checkQuota(ctx, request.params.id);
      return {
        stored: await receiveChunks(
          ctx,
          request.params.id,
          request.body as Readable,
          MAX_CHUNK_BATCH_BYTES,
        ),
      };
    },
  );

  app.post<WithId & { Body: UploadPreview }>(
    '/api/v1/workspaces/:id/previews',
    {
      config: { access: 'editor' },
      bodyLimit: PREVIEW_BYTES,
      schema: { params: WorkspaceParamsSchema, body: UploadPreviewSchema },
    },
    async (request, reply) => {
      await previewUpload(ctx, callerOf(request), request.params.id, request.body);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: { id: string; chunkId: string } }>(
    '/api/v1/workspaces/:id/chunks/:chunkId',
    { config: { access: 'viewer' }, schema: { params: ChunkParamsSchema } },
    async (request, reply) => {
      const { id } = request.params;
      const chunkId = request.params.chunkId as ChunkId;
      const bytes = (await chunksInWorkspace(ctx, id, [chunkId])).has(chunkId)
        ? await ctx.chunks.get(chunkId)
        : undefined;
      if (!bytes) throw TandemError.of('CHUNK_NOT_FOUND', chunkId);
      ctx.stats.chunksOut++;
      ctx.stats.chunkBytesOut += bytes.length;
      return reply.type('application/octet-stream').send(bytes);
    },
  );

  // Many chunks in one response, framed as [u32 length][32-byte id][bytes], in request order.
  app.post<WithId & { Body: IdList }>(
    '/api/v1/workspaces/:id/chunks/fetch',
    {
      config: { access: 'viewer' },
      bodyLimit: ID_LIST_BYTES,
      schema: { params: WorkspaceParamsSchema, body: IdListSchema },
    },
    async (request, reply) => {
      const { id } = request.params;
      const ids = request.body.ids as ChunkId[];
      const allowed = await chunksInWorkspace(ctx, id, ids);
      const denied = ids.find((c) => !allowed.has(c));
      if (denied) throw TandemError.of('CHUNK_NOT_FOUND', denied);
      // Written here rather than by Fastify: a pack buffer is read into again only once the
      // socket has taken every byte sent from it.
      // (The request is still logged once, by the onResponse hook, when the response ends.)
      reply.hijack();
      await sendChunkFrames(reply.raw, ctx, ids, fetchBuffers);
    },
  );

  app.post<WithId & { Body: IdList }>(
    '/api/v1/workspaces/:id/contents/fetch',
    {
      config: { access: 'viewer' },
      bodyLimit: ID_LIST_BYTES,
      schema: { params: WorkspaceParamsSchema, body: IdListSchema },
    },
    async (request) => manifests(ctx, request.params.id, request.body.ids as ContentId[]),
  );

  app.post<WithId & { Body: CommitRequest }>(
    '/api/v1/workspaces/:id/commit',
    {
      config: { access: 'editor' },
      bodyLimit: MAX_JSON_BYTES,
      schema: { params: WorkspaceParamsSchema, body: CommitRequestSchema },
    },
    async (request) => {
      for (const op of request.body.ops) {
        for (const raw of op.op === 'move' ? [op.from, op.to] : [op.path]) {
          const check = checkPath(raw);
          if (!check.ok) throw TandemError.of('INVALID_PATH', JSON.stringify(raw), check.reason);
        }
      }
      return commit(ctx, callerOf(request), request.params.id, request.body);
    },
  );
}

/**
 * A whole number from a query string (declared as digits by its schema), or `fallback` when
 * absent. Throws BAD_REQUEST naming the field when it is out of range.
 */
function queryNumber(
  raw: string | undefined,
  field: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw TandemError.of(
      'BAD_REQUEST',
      `querystring/${field} must be a whole number from ${min} to ${max}`,
    );
  return value;
}

/**
 * Sends chunks as frames: small ones gathered into blocks of about 1 MiB (one socket write
 * per block, not three per chunk), large ones without a copy. Waits while the socket is full,
 * and stops when the client goes away; a failure after the head went out cuts the response
 * short, which the client sees as an error.
 */
async function sendChunkFrames(
  res: ServerResponse,
  ctx: HubContext,
  ids: readonly ChunkId[],
  buffers: BufferPool,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  // Views of pooled buffers are held until the socket has written them.
  const held = (bytes: Buffer) => (buffers.lends(bytes) ? buffers.hold(bytes) : undefined);
  let block: Buffer[] = [];
  let blockBytes = 0;
  let blockHolds: (() => void)[] = [];
  const send = async (data: Buffer, release?: () => void) => {
    if (res.destroyed) {
      release?.();
      throw new Error('the client went away');
    }
    if (!res.write(data, () => release?.())) await drained(res);
  };
  const sendBlock = async () => {
    if (blockBytes === 0) return;
    const out = Buffer.concat(block, blockBytes);
    for (const release of blockHolds) release();
    block = [];
    blockBytes = 0;
    blockHolds = [];
    await send(out);
  };
  try {
    let k = 0;
    for await (const bytes of ctx.chunks.getMany(ids, buffers)) {
      const chunkId = ids[k++]!;
      if (!bytes) throw TandemError.of('CHUNK_NOT_FOUND', chunkId);
      ctx.stats.chunksOut++;
      ctx.stats.chunkBytesOut += bytes.length;
      const head = chunkFrameHead(chunkId, bytes.length);
      if (bytes.length >= 64 * 1024) {
        block.push(head);
        blockBytes += head.length;
        await sendBlock();
        await send(bytes, held(bytes));
      } else {
        const release = held(bytes);
        if (release) blockHolds.push(release);
        block.push(head, bytes);
        blockBytes += head.length + bytes.length;
        if (blockBytes >= 1024 * 1024) await sendBlock();
      }
    }
    await sendBlock();
    res.end();
  } catch (error) {
    for (const release of blockHolds) release();
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Resolves when `res` can take more, rejects when it closed first. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('the client went away'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

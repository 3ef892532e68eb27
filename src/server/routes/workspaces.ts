/**
 * Workspace routes: listing, members, the change feed, chunks, upload previews, manifests and
 * commits.
 */
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import type { ChunkId, ContentId } from '../../core/ids.js';
import { checkPath } from '../../core/paths.js';
import {
  MAX_CHUNK_BATCH_BYTES,
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
  IdListSchema,
  UploadPreviewSchema,
  WorkspaceParamsSchema,
} from '../../protocol/schemas.js';
import { TandemError } from '../../protocol/errors.js';
import { chunkFrameHead } from '../../protocol/frames.js';
import { requireCaller } from '../app.js';
import type { HubContext } from '../context.js';
import {
  chunkInWorkspace,
  chunksInWorkspace,
  manifests,
  missingChunks,
  receiveChunks,
} from '../services/chunks.js';
import { changes, commit, history } from '../services/commits.js';
import { previewUpload } from '../services/previews.js';
import { createWorkspace, listWorkspaces, requireRole, setMember } from '../services/workspaces.js';

type WithId = { Params: { id: string } };

export function registerWorkspaceRoutes(app: FastifyInstance, ctx: HubContext): void {
  const access = async (request: Parameters<typeof requireCaller>[1], needed: Role) => {
    const caller = await requireCaller(ctx, request);
    const { id } = request.params as { id: string };
    await requireRole(ctx, caller, id, needed);
    return { caller, id };
  };

  app.get('/api/v1/workspaces', async (request) => ({
    workspaces: await listWorkspaces(ctx, await requireCaller(ctx, request)),
  }));

  app.post<{ Body: { name: string } }>(
    '/api/v1/workspaces',
    { schema: { body: CreateWorkspaceSchema } },
    async (request, reply) => {
      const caller = await requireCaller(ctx, request);
      return reply
        .status(201)
        .send(await createWorkspace(ctx, caller, request.body.name.normalize('NFC')));
    },
  );

  app.put<WithId & { Body: { user: string; role: Role } }>(
    '/api/v1/workspaces/:id/members',
    { schema: { params: WorkspaceParamsSchema, body: AddMemberSchema } },
    async (request, reply) => {
      const caller = await requireCaller(ctx, request);
      await setMember(ctx, caller, request.params.id, request.body.user, request.body.role);
      return reply.status(204).send();
    },
  );

  app.get<WithId & { Querystring: { since?: number; limit?: number } }>(
    '/api/v1/workspaces/:id/changes',
    { schema: { params: WorkspaceParamsSchema, querystring: ChangesQuerySchema } },
    async (request) => {
      const { id } = await access(request, 'viewer');
      return changes(ctx, id, request.query.since ?? 0, request.query.limit ?? 10_000);
    },
  );

  app.get<WithId & { Querystring: { path?: string; limit?: number } }>(
    '/api/v1/workspaces/:id/history',
    { schema: { params: WorkspaceParamsSchema } },
    async (request) => {
      const { id } = await access(request, 'viewer');
      const path = checkPath(request.query.path);
      if (!path.ok)
        throw TandemError.of('INVALID_PATH', JSON.stringify(request.query.path ?? ''), path.reason);
      return {
        rows: await history(ctx, id, path.path, Math.min(Number(request.query.limit ?? 100), 1000)),
      };
    },
  );

  app.post<WithId & { Body: IdList }>(
    '/api/v1/workspaces/:id/chunks/missing',
    { schema: { params: WorkspaceParamsSchema, body: IdListSchema } },
    async (request) => {
      await access(request, 'editor');
      return { missing: await missingChunks(ctx, request.body.ids as ChunkId[]) };
    },
  );

  app.post<WithId>(
    '/api/v1/workspaces/:id/chunks',
    { schema: { params: WorkspaceParamsSchema }, bodyLimit: MAX_CHUNK_BATCH_BYTES },
    async (request) => {
      await access(request, 'editor');
      if (request.headers['content-type'] !== 'application/octet-stream') {
        throw TandemError.of('BAD_REQUEST', 'chunk uploads must be application/octet-stream');
      }
      return {
        stored: await receiveChunks(ctx, request.body as Readable, MAX_CHUNK_BATCH_BYTES),
      };
    },
  );

  app.post<WithId & { Body: UploadPreview }>(
    '/api/v1/workspaces/:id/previews',
    { schema: { params: WorkspaceParamsSchema, body: UploadPreviewSchema } },
    async (request, reply) => {
      const { caller, id } = await access(request, 'editor');
      await previewUpload(ctx, caller, id, request.body);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: { id: string; chunkId: string } }>(
    '/api/v1/workspaces/:id/chunks/:chunkId',
    { schema: { params: ChunkParamsSchema } },
    async (request, reply) => {
      const { id } = await access(request, 'viewer');
      const chunkId = request.params.chunkId as ChunkId;
      const bytes = (await chunkInWorkspace(ctx, id, chunkId))
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
    { schema: { params: WorkspaceParamsSchema, body: IdListSchema } },
    async (request, reply) => {
      const { id } = await access(request, 'viewer');
      const ids = request.body.ids as ChunkId[];
      const allowed = await chunksInWorkspace(ctx, id, ids);
      const denied = ids.find((c) => !allowed.has(c));
      if (denied) throw TandemError.of('CHUNK_NOT_FOUND', denied);
      // Small frames are gathered into blocks of about 1 MiB: one stream write per block,
      // not three per chunk. Large chunks are sent without a copy.
      async function* frames() {
        let block: Buffer[] = [];
        let blockBytes = 0;
        const add = (part: Buffer) => {
          block.push(part);
          blockBytes += part.length;
        };
        const takeBlock = () => {
          const out = Buffer.concat(block, blockBytes);
          block = [];
          blockBytes = 0;
          return out;
        };
        let k = 0;
        for await (const bytes of ctx.chunks.getMany(ids)) {
          const chunkId = ids[k++]!;
          if (!bytes) throw TandemError.of('CHUNK_NOT_FOUND', chunkId);
          ctx.stats.chunksOut++;
          ctx.stats.chunkBytesOut += bytes.length;
          add(chunkFrameHead(chunkId, bytes.length));
          if (bytes.length >= 64 * 1024) {
            yield takeBlock();
            yield bytes;
          } else {
            add(bytes);
            if (blockBytes >= 1024 * 1024) yield takeBlock();
          }
        }
        if (blockBytes > 0) yield takeBlock();
      }
      // Few blocks read ahead of the socket (the default is 16, up to 16 MiB per request).
      return reply
        .type('application/octet-stream')
        .send(Readable.from(frames(), { highWaterMark: 2 }));
    },
  );

  app.post<WithId & { Body: IdList }>(
    '/api/v1/workspaces/:id/contents/fetch',
    { schema: { params: WorkspaceParamsSchema, body: IdListSchema } },
    async (request) => {
      const { id } = await access(request, 'viewer');
      return manifests(ctx, id, request.body.ids as ContentId[]);
    },
  );

  app.post<WithId & { Body: CommitRequest }>(
    '/api/v1/workspaces/:id/commit',
    { schema: { params: WorkspaceParamsSchema, body: CommitRequestSchema } },
    async (request) => {
      const { caller, id } = await access(request, 'editor');
      for (const op of request.body.ops) {
        for (const raw of op.op === 'move' ? [op.from, op.to] : [op.path]) {
          const check = checkPath(raw);
          if (!check.ok) throw TandemError.of('INVALID_PATH', JSON.stringify(raw), check.reason);
        }
      }
      return commit(ctx, caller, id, request.body);
    },
  );
}

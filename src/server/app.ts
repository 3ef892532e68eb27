/**
 * The hub as a Fastify app. `buildApp()` never listens: tests call `app.inject()`, and only
 * the CLI's `tandem server` calls `listen`.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { MAX_CHUNK_BATCH_BYTES, MAX_JSON_BYTES } from '../protocol/api.js';
import { TandemError } from '../protocol/errors.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { newStats, type Caller, type HubContext } from './context.js';
import type { Database } from './db/schema.js';
import { LocalEventBus, type EventBus } from './event-bus.js';
import { RateLimiter } from './rate-limit.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerEventsRoute } from './routes/events.js';
import { registerWorkspaceRoutes } from './routes/workspaces.js';
import { authenticate } from './services/accounts.js';
import { PreviewedChunks } from './services/previews.js';

export interface AppOptions {
  readonly db: Kysely<Database>;
  readonly chunks: ChunkStore;
  readonly events?: EventBus;
  readonly now?: () => number;
  /** Fastify's logger; off by default (the CLI turns it on). */
  readonly logger?: boolean;
  /** Serve https and wss with this certificate and key (PEM); plain http without. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Authentication attempts allowed per client and user per minute. */
  readonly authAttemptsPerMinute?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyInstance {
    hub: HubContext;
  }
}

export type HubApp = FastifyInstance;

/** Builds the hub. The caller owns `db` and `chunks` and closes them after `app.close()`. */
export async function buildApp(options: AppOptions): Promise<HubApp> {
  const now = options.now ?? Date.now;
  const ctx: HubContext = {
    db: options.db,
    chunks: options.chunks,
    events: options.events ?? new LocalEventBus(),
    previews: new PreviewedChunks(now),
    now,
    stats: newStats(),
  };
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    logger: options.logger ?? false,
    bodyLimit: MAX_JSON_BYTES,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } },
  });
  app.decorate('hub', ctx);

  // Chunk uploads arrive as a raw stream and are decoded frame by frame.
  app.addContentTypeParser(
    'application/octet-stream',
    { bodyLimit: MAX_CHUNK_BATCH_BYTES },
    (_req, payload, done) => done(null, payload),
  );

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof TandemError) {
      void reply.status(error.status).send(error.toBody());
      return;
    }
    const fastifyError = error as {
      validation?: unknown;
      statusCode?: number;
      message: string;
      code?: string;
    };
    if (fastifyError.validation) {
      const wrapped = TandemError.of('BAD_REQUEST', fastifyError.message);
      void reply.status(400).send(wrapped.toBody());
      return;
    }
    if (fastifyError.statusCode === 413 || fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      void reply
        .status(413)
        .send(TandemError.of('PAYLOAD_TOO_LARGE', fastifyError.message).toBody());
      return;
    }
    if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      void reply
        .status(fastifyError.statusCode)
        .send(TandemError.of('BAD_REQUEST', fastifyError.message).toBody());
      return;
    }
    request.log.error({ err: error }, 'request failed');
    void reply
      .status(500)
      .send(TandemError.of('INTERNAL', 'an unexpected error; see the hub log').toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(TandemError.of('NOT_FOUND', `${request.method} ${request.url}`).toBody());
  });

  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  const perUser = options.authAttemptsPerMinute ?? 20;
  registerAuthRoutes(app, ctx, {
    perUser: new RateLimiter(perUser, 60_000),
    perClient: new RateLimiter(perUser * 10, 60_000),
  });
  registerWorkspaceRoutes(app, ctx);
  registerEventsRoute(app, ctx);
  app.get('/api/v1/health', async () => ({ ok: true }));
  app.get('/api/v1/stats', async (request) => {
    await requireCaller(ctx, request);
    return { ...ctx.stats, rss: process.memoryUsage().rss };
  });
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><title>Tandem hub</title><h1>Tandem hub</h1><p>The hub is running. Connect a device with <code>tandem sync DIR</code>.</p>',
      ),
  );
  return app;
}

/** Reads the bearer token (header, or `?token=` for browsers' WebSockets). */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  const query = request.query as { token?: unknown } | undefined;
  return typeof query?.token === 'string' ? query.token : undefined;
}

/** Resolves the caller or throws UNAUTHENTICATED. */
export async function requireCaller(ctx: HubContext, request: FastifyRequest): Promise<Caller> {
  if (request.caller) return request.caller;
  const token = bearerToken(request);
  const caller = token ? await authenticate(ctx, token) : undefined;
  if (!caller) throw TandemError.of('UNAUTHENTICATED');
  request.caller = caller;
  return caller;
}

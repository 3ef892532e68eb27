/**
 * The hub as a Fastify app. `buildApp()` never listens: tests call `app.inject()`, and only
 * the CLI's `tandem server` calls `listen`.
 */
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { API, MAX_CHUNK_BATCH_BYTES, type RegistrationMode } from '../protocol/api.js';
import { PATTERN_MEANINGS } from '../protocol/schemas.js';
import { formatError, TandemError } from '../protocol/errors.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { enforceAccess, type RouteAccess } from './access.js';
import { newStats, type HubContext } from './context.js';
import { HubMetrics } from './ops/metrics.js';
import type { Database } from './db/schema.js';
import { LocalEventBus, type EventBus } from './event-bus.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerEventsRoute } from './routes/events.js';
import { registerApiDocumentRoutes, registerOperationRoutes } from './routes/operations.js';
import { registerWorkspaceRoutes } from './routes/workspaces.js';
import { UPLOAD_LEASE_MS } from './services/chunks.js';
import { startReclaimer } from './services/reclaim.js';
import { DEFAULT_SIGN_IN_LIMITS, type SignInLimits } from './services/sign-in-limits.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An id a proxy in front of the hub gave the request is kept, if it looks like one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The request's id: the `x-request-id` a proxy sent, when it is one (letters, digits and
 * `._:-`, at most 64: nothing that could forge a log line), else a fresh random one.
 */
function requestIdOf(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given)
    ? given
    : randomBytes(8).toString('hex');
}

/** The route whose latency `/metrics` reports as a histogram. */
const COMMIT_ROUTE = `${API}/workspaces/:id/commit`;

/** The body limit of a route that declares none: small JSON documents. */
export const DEFAULT_BODY_BYTES = 64 * 1024;

export interface AppOptions {
  readonly db: Kysely<Database>;
  /** For /health: throws when the database's file is gone (see OpenedDatabase.checkFile). */
  readonly checkDatabase?: () => Promise<void>;
  readonly chunks: ChunkStore;
  readonly events?: EventBus;
  readonly now?: () => number;
  /**
   * How much the hub logs, as JSON lines (pino) on stderr, each with the request's id (`reqId`)
   * that its answer carries in `x-request-id`: at `info`, one line per request answered; at
   * `warn` (the default here; `tandem server` runs at `info`), failures only. Every answer of
   * 500 or more is logged at `error` with the details the answer leaves out.
   */
  readonly logLevel?: LogLevel;
  /** Serve https and wss with this certificate and key (PEM); plain http without. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /**
   * How long a chunk uploaded into a workspace counts as its own without a commit, and is
   * kept; then it is reclaimed unless a commit links it somewhere (default 24 hours).
   */
  readonly uploadLeaseMs?: number;
  /** Who may register (see RegistrationMode); default `open`. */
  readonly registration?: RegistrationMode;
  /** Failed sign-ins allowed (see services/sign-in-limits.ts); defaults for what is not given. */
  readonly signInLimits?: Partial<SignInLimits>;
}

declare module 'fastify' {
  interface FastifyInstance {
    hub: HubContext;
    /** Every route with the access it declares (see access.ts). */
    routeTable: readonly RouteAccess[];
  }
}

export type HubApp = FastifyInstance;

/** Builds the hub. The caller owns `db` and `chunks` and closes them after `app.close()`. */
export async function buildApp(options: AppOptions): Promise<HubApp> {
  const now = options.now ?? Date.now;
  const ctx: HubContext = {
    db: options.db,
    ...(options.checkDatabase ? { checkDatabase: options.checkDatabase } : {}),
    chunks: options.chunks,
    events: options.events ?? new LocalEventBus(),
    uploadLeaseMs: options.uploadLeaseMs ?? UPLOAD_LEASE_MS,
    now,
    stats: newStats(),
    metrics: new HubMetrics(),
  };
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    logger: { level: options.logLevel ?? 'warn', stream: process.stderr },
    // One line per request (below), not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdOf,
    bodyLimit: DEFAULT_BODY_BYTES,
    // No type coercion: `{"name": 5}` is not a name, `"10"` is not a number. (Query strings
    // are text: their numbers are declared as digit strings, see schemas.ts.)
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    schemaErrorFormatter: describeValidation,
    // Refusals before routing (a malformed %-escape, a parameter over 100 characters) and
    // at the HTTP level (headers too large, a request line that is not HTTP) answer with a
    // Tandem error body too, as every other refusal does.
    frameworkErrors: (error, _request, reply) => {
      const failed = errorOf(error);
      void (reply as FastifyReply).status(failed.status).send(failed.toBody());
    },
    clientErrorHandler: answerClientError,
  });
  app.decorate('hub', ctx);
  app.server.on('connection', (socket: Socket) => ctx.metrics.track(socket));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.countRequest(request.method, route, reply.statusCode);
    if (route === COMMIT_ROUTE && request.method === 'POST')
      ctx.metrics.commitSeconds.observe(reply.elapsedTime / 1000);
    // The path without its query: queries hold file paths, which are the users' own.
    request.log.info(
      {
        method: request.method,
        url: request.url.split('?')[0],
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ...(request.caller ? { device: request.caller.deviceId } : {}),
      },
      'request completed',
    );
  });
  app.decorate('routeTable', enforceAccess(app, ctx));

  // Chunk uploads arrive as a raw stream and are decoded frame by frame.
  app.addContentTypeParser(
    'application/octet-stream',
    { bodyLimit: MAX_CHUNK_BATCH_BYTES },
    (_req, payload, done) => done(null, payload),
  );

  app.setErrorHandler((error, request, reply) => {
    const failed = errorOf(error);
    if (failed.status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.status(failed.status).send({
        error: {
          code: failed.code,
          message: `${failed.message} (request ${request.id}; the hub's log has the details)`,
          requestId: request.id,
        },
      });
    }
    return reply.status(failed.status).send(failed.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(TandemError.of('NOT_FOUND', `${request.method} ${request.url}`).toBody());
  });

  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  registerAuthRoutes(
    app,
    ctx,
    { ...DEFAULT_SIGN_IN_LIMITS, ...options.signInLimits },
    options.registration ?? 'open',
  );
  registerWorkspaceRoutes(app, ctx);
  registerEventsRoute(app, ctx);
  const stopReclaimer = startReclaimer(ctx, app.log);
  app.addHook('onClose', stopReclaimer);
  registerOperationRoutes(app, ctx);
  registerApiDocumentRoutes(app);
  // Hub-wide counters say what every user is doing: for administrators only.
  app.get('/api/v1/stats', { config: { access: 'admin' } }, async () => ({
    ...ctx.stats,
    rss: process.memoryUsage().rss,
  }));
  app.get('/', { config: { access: 'anonymous' } }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><title>Tandem hub</title><h1>Tandem hub</h1><p>The hub is running. Connect a device with <code>tandem sync DIR</code>.</p>',
      ),
  );
  return app;
}

/** A request Node could not even parse: a Tandem error body, then the connection closes. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request headers are larger than the hub accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request took too long to arrive']
        : [400, 'The request is not valid HTTP'];
  const body = JSON.stringify({ error: { code: 'BAD_REQUEST', message } });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy();
}

/**
 * One sentence for a request that fails its schema: the first error only (a union lists a
 * failure for each of its branches, of which the first is the one that names the field),
 * with patterns said in words.
 */
function describeValidation(
  errors: readonly { instancePath: string; keyword: string; message?: string; params: object }[],
  dataVar: string,
): Error {
  const first = errors[0];
  if (!first) return new Error(`${dataVar} is not valid`);
  const { pattern, additionalProperty } = first.params as {
    pattern?: string;
    additionalProperty?: string;
  };
  const what =
    first.keyword === 'pattern' && pattern !== undefined
      ? (PATTERN_MEANINGS[pattern] ?? 'is not in the expected form')
      : first.keyword === 'additionalProperties' && additionalProperty !== undefined
        ? `has a field it does not take: ${JSON.stringify(additionalProperty)}`
        : (first.message ?? 'is not valid');
  return new Error(`${dataVar}${first.instancePath} ${what}`);
}

/**
 * The TandemError a failure stands for: ours as they are; Fastify's (validation, body too
 * large, wrong content type, malformed JSON) as the 4xx they are, with their message, which
 * names the field; anything else is a 500.
 */
function errorOf(error: unknown): TandemError {
  if (error instanceof TandemError) return error;
  const fastify = error as {
    validation?: unknown;
    statusCode?: number;
    code?: string;
    message?: string;
  };
  const message = fastify.message ?? String(error);
  if (fastify.validation) return TandemError.of('BAD_REQUEST', message);
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fastify.statusCode === 413)
    return TandemError.of('PAYLOAD_TOO_LARGE', message);
  if (fastify.code === 'FST_ERR_BAD_URL')
    return TandemError.of('BAD_REQUEST', 'the URL has an invalid %-escape');
  if (fastify.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return new TandemError(
      'BAD_REQUEST',
      formatError('BAD_REQUEST', 'a part of the URL is too long'),
      {
        status: 414,
      },
    );
  if (fastify.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fastify.statusCode === 415)
    return TandemError.of('UNSUPPORTED_MEDIA', message);
  if (fastify.statusCode !== undefined && fastify.statusCode >= 400 && fastify.statusCode < 500)
    return new TandemError('BAD_REQUEST', formatError('BAD_REQUEST', message), {
      status: fastify.statusCode,
    });
  return TandemError.of('INTERNAL', 'an unexpected error');
}

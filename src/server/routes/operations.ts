/**
 * What an operator of the hub uses: its health (`/health`, also at `/api/v1/health` where
 * earlier releases answered it), its metrics (`/metrics`, administrators only) and the
 * description of its API (`/api/v1/openapi.json`, and as a page at `/api/docs`).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { formatError } from '../../protocol/errors.js';
import type { HubContext } from '../context.js';
import { API_PAGE_CSP, apiPage } from '../ops/api-page.js';
import { checkHealth, HEALTH_PARTS } from '../ops/health.js';
import { openApiDocument } from '../ops/openapi.js';

const PartHealthSchema = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  ms: Type.Number({ description: 'how long the check took, in milliseconds' }),
});

/** The answer of /health, up (200) or down (503). */
export const HealthSchema = Type.Object(
  {
    ok: Type.Boolean(),
    status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    checks: Type.Object(
      Object.fromEntries(HEALTH_PARTS.map((part) => [part, PartHealthSchema])) as Record<
        (typeof HEALTH_PARTS)[number],
        typeof PartHealthSchema
      >,
    ),
    error: Type.Optional(
      Type.Object({ code: Type.String(), message: Type.String(), requestId: Type.String() }),
    ),
  },
  { description: "whether the hub's database and chunk store answer now" },
);

export function registerOperationRoutes(app: FastifyInstance, ctx: HubContext): void {
  // What every user is doing, in numbers: for administrators (a device token of one, as
  // Prometheus' `authorization` setting sends it), or on a listener of its own (hub.ts).
  app.get(
    '/metrics',
    {
      config: { access: 'admin' },
      schema: {
        summary: "The hub's metrics in Prometheus' text format (administrators)",
        description:
          'Requests by route and status, commit latency, connected agents, bytes in and out, chunk store size. Each hub process reports its own counts.',
      },
    },
    async (_request, reply) =>
      reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metricsText(ctx)),
  );
  for (const url of ['/health', '/api/v1/health'])
    app.get(
      url,
      {
        config: { access: 'anonymous' },
        schema: {
          summary: "The hub's health: its database and chunk store, up or down",
          response: { 200: HealthSchema, 503: HealthSchema },
        },
      },
      async (request, reply) => {
        const health = await checkHealth(ctx, (part, error) =>
          request.log.error({ err: error, part }, `health check: the ${part} is down`),
        );
        if (health.ok) return health;
        // Anyone may ask, so the answer says what is down, never why (the reason may name
        // the hub's paths): that is in the log, under this request id.
        const down = HEALTH_PARTS.filter((part) => health.checks[part].status === 'down');
        const what = down.map((part) => (part === 'chunkStore' ? 'chunk store' : part));
        return reply.status(503).send({
          ...health,
          error: {
            code: 'HUB_UNAVAILABLE',
            message: `${formatError('HUB_UNAVAILABLE', `its ${what.join(' and ')} ${down.length > 1 ? 'are' : 'is'} down`)} (request ${request.id}; the hub's log has the details)`,
            requestId: request.id,
          },
        });
      },
    );
}

/**
 * The API's description: made once, on first request, from the complete route table (every
 * route is registered by then), and served as JSON and as a page.
 */
export function registerApiDocumentRoutes(app: FastifyInstance): void {
  let document: Record<string, unknown> | undefined;
  let page: string | undefined;
  const documentOf = () => (document ??= openApiDocument(app.routeTable));
  app.get(
    '/api/v1/openapi.json',
    {
      config: { access: 'anonymous' },
      schema: { summary: 'This description of the API, as an OpenAPI 3.1 document' },
    },
    async (_request, reply) => reply.type('application/json; charset=utf-8').send(documentOf()),
  );
  app.get(
    '/api/docs',
    {
      config: { access: 'anonymous' },
      schema: { summary: 'This description of the API, as a page to read' },
    },
    async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', API_PAGE_CSP)
        .header('x-content-type-options', 'nosniff')
        .send((page ??= apiPage(documentOf()))),
  );
}

/** The metrics as Prometheus scrapes them (the store's size left out while it cannot say). */
export async function metricsText(ctx: HubContext): Promise<string> {
  const usage = await ctx.chunks.usage().catch(() => undefined);
  return ctx.metrics.render(ctx.stats, usage);
}

/**
 * Who may call what. Every route declares the access it needs in its own definition
 * (`config: { access }`), and one `onRequest` hook enforces it before anything else of the
 * request is read: the body is neither received nor parsed for a caller that may not send it.
 * A route that declares nothing stops the hub at start-up.
 *
 * - `anonymous`: anyone (health, the landing page, registration and login);
 * - `signed-in`: a valid device token; the handler looks objects up through the caller;
 * - `viewer`, `editor`, `owner`: that role or more on the workspace named by the route's
 *   `:id` (a workspace the caller cannot see at all answers 404, so ids do not leak);
 * - `admin`: a hub administrator.
 *
 * Tokens are read from the `Authorization: Bearer` header only, never from the URL (where
 * proxies and access logs keep them).
 */
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  RouteOptions,
} from 'fastify';
import type { Role } from '../protocol/api.js';
import { TandemError } from '../protocol/errors.js';
import type { Caller, HubContext } from './context.js';
import { authenticate, versionOf } from './services/accounts.js';
import { requireRole } from './services/workspaces.js';

export const ACCESS = ['anonymous', 'signed-in', 'viewer', 'editor', 'owner', 'admin'] as const;
export type Access = (typeof ACCESS)[number];

const ROLES: ReadonlySet<Access> = new Set<Access>(['viewer', 'editor', 'owner']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route (see access.ts). Required on every route. */
    access?: Access;
  }
  interface FastifyRequest {
    /** The authenticated caller, set by the access hook on every route above `anonymous`. */
    caller?: Caller;
    /** The caller's role on the route's workspace, for `viewer`, `editor` and `owner` routes. */
    role?: Role;
  }
}

/** One row of the hub's route table: what the access-matrix test walks. */
export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
  readonly websocket: boolean;
  /** The schemas the route validates its input with (and describes its answers with, if any). */
  readonly schema?: FastifySchema;
  /** What the route takes in a body when it declares no body schema (a raw stream). */
  readonly bodyLimit?: number;
}

/**
 * Installs the access hook and returns the route table, filled as routes are registered.
 * Must be called before any route is added. Throws (at registration) for a route without a
 * valid `config.access`.
 */
export function enforceAccess(app: FastifyInstance, ctx: HubContext): readonly RouteAccess[] {
  const routes: RouteAccess[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!access || !(ACCESS as readonly string[]).includes(access))
      throw new Error(`route ${methods.join(',')} ${route.url} declares no access (see access.ts)`);
    if (ROLES.has(access) && !route.url.includes('/:id'))
      throw new Error(`route ${route.url} needs a workspace role but has no :id parameter`);
    for (const method of methods) {
      // Fastify adds a HEAD route for each GET; it is the GET as far as access goes.
      if (method === 'HEAD') continue;
      routes.push({
        method,
        url: route.url,
        access,
        websocket:
          (route as { websocket?: boolean }).websocket === true ||
          (route as { wsHandler?: unknown }).wsHandler !== undefined,
        ...(route.schema ? { schema: route.schema } : {}),
        ...(route.bodyLimit !== undefined ? { bodyLimit: route.bodyLimit } : {}),
      });
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    // An upgrade answered in HTTP (refused, or malformed) is over once answered: the socket
    // is no HTTP connection any more, so nothing else would ever close it. (An accepted
    // upgrade is not answered through `reply.raw`.)
    if (request.headers.upgrade !== undefined)
      reply.raw.once('finish', () => request.raw.socket?.end());
    await authorize(ctx, request, reply);
  });
  return routes;
}

async function authorize(
  ctx: HubContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  // (A request that matched no route has no access declared: the not-found handler answers.)
  const access = request.routeOptions.config.access;
  if (access === undefined || access === 'anonymous') return;
  const token = bearerToken(request);
  const caller =
    token === undefined
      ? undefined
      : await authenticate(ctx, token, {
          address: request.ip,
          version: versionOf(request.headers['user-agent']),
        });
  if (caller === undefined || caller === 'revoked' || caller === 'disabled') {
    refuseBody(request, reply);
    throw TandemError.of(
      caller === 'revoked'
        ? 'DEVICE_REVOKED'
        : caller === 'disabled'
          ? 'ACCOUNT_DISABLED'
          : 'UNAUTHENTICATED',
    );
  }
  request.caller = caller;
  if (access === 'admin') {
    if (!caller.admin) {
      refuseBody(request, reply);
      throw TandemError.of('ADMIN_ONLY');
    }
    return;
  }
  if (ROLES.has(access)) {
    const { id } = request.params as { id?: unknown };
    try {
      request.role = await requireRole(
        ctx,
        caller,
        typeof id === 'string' ? id : '',
        access as Role,
      );
    } catch (error) {
      refuseBody(request, reply);
      throw error;
    }
  }
}

/** What a refused request may still send, thrown away, before its connection is cut. */
const DISCARD_BYTES = 64 * 1024 * 1024;
const DISCARD_MS = 30_000;

/**
 * A refused request's body is never parsed or kept: once the refusal is sent, Node reads the
 * rest and throws it away, so that the client, still sending, gets to read the answer
 * (closing at once made the kernel answer its next bytes with a reset, which discards the
 * answer on its side: an agent with a revoked token then saw "unreachable" instead of
 * "revoked"). What it may still send is bounded in bytes and time, then the connection is cut.
 */
function refuseBody(request: FastifyRequest, reply: FastifyReply): void {
  const { headers } = request;
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return;
  const raw = request.raw;
  let bytes = 0;
  const cut = () => raw.socket?.destroy();
  raw.on('data', (part: Buffer) => {
    bytes += part.length;
    if (bytes > DISCARD_BYTES) cut();
  });
  reply.raw.once('finish', () => {
    if (raw.complete) return;
    const timer = setTimeout(cut, DISCARD_MS).unref();
    raw.once('end', () => clearTimeout(timer));
    raw.once('close', () => clearTimeout(timer));
  });
}

/** The bearer token of the `Authorization` header, if there is one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith('Bearer ')) return undefined;
  const token = header.slice('Bearer '.length).trim();
  return token.length > 0 && token.length <= 256 ? token : undefined;
}

/** The caller of a route that is not `anonymous` (the access hook has authenticated it). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error(`${request.url}: no caller; is its access anonymous?`);
  return request.caller;
}

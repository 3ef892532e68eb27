/**
 * The hub's API as an OpenAPI 3.1 document, made from the route table: every route, with the
 * access it declares and the very schemas (TypeBox, i.e. JSON Schema) that validate its
 * parameters, query and body. Nothing is written twice, so the document cannot drift from
 * what the hub accepts; a route added without a description still appears, named by its
 * method and path.
 */
import { PROTOCOL_VERSION } from '../../protocol/api.js';
import type { Access, RouteAccess } from '../access.js';

/** What the hub answers on every refusal (see protocol/errors.ts). */
const ERROR_BODY = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'one of the codes of protocol/errors.ts' },
        message: { type: 'string', description: 'what went wrong and what to do, in a sentence' },
        requestId: { type: 'string', description: "the request's id in the hub's log" },
      },
    },
  },
};

/** One line per route of this release; a route not listed is named by its method and path. */
const SUMMARIES: Readonly<Record<string, string>> = {
  'GET /': "The hub's landing page",
  'GET /api/v1/stats': "The hub's transfer counters since it started (administrators)",
  'POST /api/v1/auth/register':
    'Create a user (the first of a hub is its administrator) and a device token',
  'POST /api/v1/auth/login': 'Sign in a new device: a device token',
  'GET /api/v1/me': 'Who the token belongs to: user and device',
  'GET /api/v1/devices': "The caller's devices",
  'DELETE /api/v1/devices/:id': 'Revoke one of your devices: its token stops working at once',
  'GET /api/v1/workspaces': 'The workspaces you are a member of, with your role',
  'POST /api/v1/workspaces': 'Create a workspace you own',
  'PUT /api/v1/workspaces/:id/members': "Add a member or change a member's role",
  'DELETE /api/v1/workspaces/:id/members/:user': 'Remove a member',
  'GET /api/v1/workspaces/:id/changes': 'The change feed: journal rows after a sequence number',
  'GET /api/v1/workspaces/:id/history': 'Every version of a path',
  'POST /api/v1/workspaces/:id/chunks/missing': 'Which of these chunks the workspace lacks',
  'POST /api/v1/workspaces/:id/chunks': 'Upload chunks (length-prefixed frames)',
  'POST /api/v1/workspaces/:id/previews': "Announce a large upload's chunks to other devices",
  'GET /api/v1/workspaces/:id/chunks/:chunkId': "One chunk's bytes",
  'POST /api/v1/workspaces/:id/chunks/fetch': "Many chunks' bytes, as frames",
  'POST /api/v1/workspaces/:id/contents/fetch': 'Manifests of content ids',
  'POST /api/v1/workspaces/:id/commit': 'Commit a batch of operations, each against its base',
  'GET /api/v1/events': 'The event socket (WebSocket): pokes when a workspace moves',
  'POST /api/v1/auth/password': "Change the caller's password (the old one is asked again)",
  'PATCH /api/v1/workspaces/:id': 'Rename a workspace (owners)',
  'DELETE /api/v1/workspaces/:id': 'Delete a workspace and its history, for every member (owners)',
  'GET /api/v1/workspaces/:id/members': 'The members of a workspace, with their roles',
  'POST /api/v1/workspaces/:id/leave':
    "Give up the caller's own access (refused to the last owner)",
  'POST /api/v1/admin/invites': 'Make a one-time invitation code for registration',
  'GET /api/v1/admin/users': 'Every user, with devices, storage used and quota',
  'POST /api/v1/admin/users/:user/disable':
    'Disable an account: its tokens and sockets stop at once, its data stays',
  'POST /api/v1/admin/users/:user/enable': 'Enable a disabled account again',
  'POST /api/v1/admin/users/:user/reset-password':
    'Give a user a new random password, answered once',
  'PUT /api/v1/admin/users/:user/quota': "Set a user's storage quota (bytes, none or default)",
  'PUT /api/v1/admin/default-quota': 'Set the quota of users without one of their own',
};

const WHO: Readonly<Record<Access, string>> = {
  anonymous: 'anyone, without a token',
  'signed-in': 'any valid device token',
  viewer: 'a viewer, editor or owner of the workspace',
  editor: 'an editor or owner of the workspace',
  owner: 'an owner of the workspace',
  admin: 'an administrator of the hub',
};

type Json = Record<string, unknown>;

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the API document (see ops/openapi.ts). */
    summary?: string;
    /** More words for the API document. */
    description?: string;
  }
}

/** `:id` -> `{id}`. */
export const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** A schema as plain JSON (TypeBox keeps its own marks under symbols, which JSON drops). */
const plain = (schema: unknown): Json => JSON.parse(JSON.stringify(schema)) as Json;

/** The parameters of one part (path or query) from its object schema. */
function parametersOf(schema: unknown, where: 'path' | 'query'): Json[] {
  if (schema === undefined) return [];
  const { properties = {}, required = [] } = plain(schema) as {
    properties?: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: property,
  }));
}

const operationId = (method: string, url: string) =>
  method.toLowerCase() +
  url
    .split(/[/{}:.-]+/)
    .filter((part) => part.length > 0)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');

/**
 * The document. Pure: the same route table gives the same document. Every route of the table
 * is in it (HEAD is implied by GET, as HTTP says).
 */
export function openApiDocument(routes: readonly RouteAccess[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const schema = (route.schema ?? {}) as {
      params?: unknown;
      querystring?: unknown;
      body?: unknown;
      response?: Record<string, unknown>;
      summary?: string;
      description?: string;
    };
    const key = `${route.method} ${route.url}`;
    const responses: Record<string, Json> = {};
    for (const [status, body] of Object.entries(schema.response ?? {}))
      responses[status] = {
        description: (plain(body).description as string | undefined) ?? `answer ${status}`,
        content: { 'application/json': { schema: plain(body) } },
      };
    if (route.websocket) responses['101'] = { description: 'switched to the WebSocket protocol' };
    if (Object.keys(responses).length === 0) responses['2XX'] = { description: 'done' };
    if (route.access !== 'anonymous') {
      responses['401'] = errorResponse('no token, an unknown one, or a revoked device');
      if (route.access !== 'signed-in')
        responses['403'] = errorResponse(`the caller is not ${WHO[route.access]}`);
    }
    responses.default = errorResponse('a refusal or failure, as a Tandem error');
    const operation: Json = {
      operationId: operationId(route.method, route.url),
      summary: schema.summary ?? SUMMARIES[key] ?? key,
      description: `${schema.description ? `${schema.description}\n\n` : ''}Who may call it: ${WHO[route.access]}.`,
      'x-tandem-access': route.access,
      parameters: [
        ...parametersOf(schema.params, 'path'),
        ...parametersOf(schema.querystring, 'query'),
      ],
      responses,
      ...(route.access === 'anonymous' ? { security: [] } : {}),
      ...(route.websocket ? { 'x-tandem-websocket': true } : {}),
    };
    // Path parameters a route names without a schema are still parameters.
    const named = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const declared = new Set((operation.parameters as Json[]).map((p) => p.name));
    for (const name of named)
      if (!declared.has(name))
        (operation.parameters as Json[]).push({
          name,
          in: 'path',
          required: true,
          schema: { type: 'string' },
        });
    if (schema.body !== undefined)
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: plain(schema.body) } },
      };
    else if (['POST', 'PUT', 'PATCH'].includes(route.method) && route.bodyLimit !== undefined)
      // A body without a schema is a stream the route decodes itself (chunk frames).
      operation.requestBody = {
        required: true,
        content: {
          'application/octet-stream': {
            schema: { type: 'string', contentMediaType: 'application/octet-stream' },
          },
        },
      };
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tandem hub API',
      version: String(PROTOCOL_VERSION),
      description:
        'The API of a Tandem hub: accounts and devices, workspaces and members, the change feed, chunks and commits. Every route states who may call it (x-tandem-access). Agents send their device token as `Authorization: Bearer tdm_...`; tokens are never accepted in a URL.',
    },
    paths,
    components: {
      securitySchemes: {
        deviceToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'a device token from register or login',
        },
      },
      schemas: { Error: ERROR_BODY },
    },
    security: [{ deviceToken: [] }],
  };
}

function errorResponse(description: string): Json {
  return {
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

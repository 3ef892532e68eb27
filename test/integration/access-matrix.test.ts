/**
 * The hub's trust boundary, generated from its route table: every route is called by every
 * kind of caller, with one valid request each, and must answer exactly what its declared
 * access says (see src/server/access.ts). A route without an example here fails, so a new
 * route is covered the day it is added. Then the attacks of /work/shared/SECURITY.md, each a
 * test named after the bug it would be.
 *
 * The hub runs in this process on a real SQLite file and a real DiskChunkStore, listening on
 * loopback (the event socket needs a real connection); every request goes on a connection of
 * its own (test/helpers/hub-http.ts), so what is checked is what a client on the network gets.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkIdOf, contentIdOf } from '../../src/core/hashing.js';
import type { ChunkId } from '../../src/core/ids.js';
import type { Access, RouteAccess } from '../../src/server/access.js';
import { buildApp, type HubApp } from '../../src/server/app.js';
import { openDatabase } from '../../src/server/db/open.js';
import type { HubEvent } from '../../src/server/event-bus.js';
import { setMember } from '../../src/server/services/workspaces.js';
import { MemoryChunkStore, type ChunkStore } from '../../src/store/chunk-store.js';
import { DiskChunkStore } from '../../src/store/disk-chunk-store.js';
import { pseudoRandomBytes } from '../helpers/bytes.js';
import {
  chunkFrames,
  errorCode,
  isTandemError,
  openSocket,
  parseChunkFrames,
  rawHttp,
  rawUpgrade,
  send,
  until,
  type RawResponse,
  type SocketOutcome,
} from '../helpers/hub-http.js';

/** The route table, read at collection time so that each route gets a test of its own. */
const ROUTES: readonly RouteAccess[] = await (async () => {
  const { db } = await openDatabase({ kind: 'sqlite', file: ':memory:' });
  const app = await buildApp({ db, chunks: new MemoryChunkStore() });
  await app.ready();
  const table = [...app.routeTable];
  await app.close();
  await db.destroy();
  return table;
})();

const routeKey = (route: { method: string; url: string }) => `${route.method} ${route.url}`;

const CALLERS = [
  'anonymous',
  'malformed',
  'revoked',
  'disabled',
  'outsider',
  'viewer',
  'editor',
  'owner',
  'admin',
] as const;
type CallerName = (typeof CALLERS)[number];

/** The role each caller has on W, the victim's workspace (none for the others). */
const ROLE_ON_W: Partial<Record<CallerName, 'viewer' | 'editor' | 'owner'>> = {
  viewer: 'viewer',
  editor: 'editor',
  owner: 'owner',
};
const RANK = { viewer: 1, editor: 2, owner: 3 } as const;
const mayReadW = (caller: CallerName) => ROLE_ON_W[caller] !== undefined;

/**
 * The user behind each signed-in caller ('revoked' is the victim's revoked device; 'disabled'
 * a former editor of W whose account an administrator disabled).
 */
const USER_OF: Partial<Record<CallerName, string>> = {
  outsider: 'outsider',
  viewer: 'viewer',
  editor: 'editor',
  owner: 'victim',
  admin: 'root',
};

type Expectation = { readonly allowed: true } | { readonly status: number; readonly code: string };

/** What the route's declared access says `caller` gets (see access.ts). */
function expectationOf(access: Access, caller: CallerName): Expectation {
  if (access === 'anonymous') return { allowed: true };
  if (caller === 'anonymous' || caller === 'malformed')
    return { status: 401, code: 'UNAUTHENTICATED' };
  if (caller === 'revoked') return { status: 401, code: 'DEVICE_REVOKED' };
  if (caller === 'disabled') return { status: 401, code: 'ACCOUNT_DISABLED' };
  if (access === 'signed-in') return { allowed: true };
  if (access === 'admin')
    return caller === 'admin' ? { allowed: true } : { status: 403, code: 'ADMIN_ONLY' };
  const role = ROLE_ON_W[caller];
  // Workspace ids do not leak: a workspace the caller cannot see is not found, not forbidden.
  if (role === undefined) return { status: 404, code: 'WORKSPACE_NOT_FOUND' };
  return RANK[role] >= RANK[access] ? { allowed: true } : { status: 403, code: 'FORBIDDEN' };
}

const password = (user: string) => `pw-${user}-correct-horse-battery`;
/** Looks like a device token, is none. */
const MALFORMED = `tdm_${'A'.repeat(43)}`;

interface Req {
  readonly method: string;
  readonly path: string;
  readonly json?: unknown;
  readonly body?: Buffer;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

interface Prepared {
  readonly device?: { id: string; token: string };
  readonly probe?: { id: string; bytes: Buffer };
  /** A workspace made for this one request, with W's members and roles. */
  readonly workspace?: string;
  readonly hash?: string;
  /** A user made for this one request. */
  readonly user?: { name: string; token: string };
}

interface Example {
  /** Sets up what this one request needs (fresh state per cell). */
  readonly prepare?: (caller: CallerName) => Promise<Prepared>;
  readonly request: (caller: CallerName, prepared: Prepared) => Req;
  /** The status of an allowed call. */
  readonly status: number;
  /** More checks of an allowed call: it really did what the route is for. */
  readonly check?: (response: RawResponse, caller: CallerName, prepared: Prepared) => unknown;
  /** More checks of a refused call: it did nothing. */
  readonly whenRefused?: (caller: CallerName, prepared: Prepared) => unknown;
}

describe('the access matrix: every route x every kind of caller', () => {
  let dataDir: string;
  let app: HubApp;
  let chunkStore: ChunkStore;
  let destroyDb: () => Promise<void>;
  let base: string;
  const serverSockets = new Set<Socket>();
  const clientSockets: SocketOutcome[] = [];
  const events: HubEvent[] = [];
  /** Every answer this file received, for the checks of error bodies at the end. */
  const seen: { label: string; response: RawResponse }[] = [];
  const tokens: Record<string, string> = {};
  let revokedToken: string;
  let disabledToken: string;
  let W: string;
  let O: string;
  let serial = 0;
  const next = () => ++serial;

  /** The victim's secrets: nothing of this may reach a caller who may not read W. */
  const W_NAME = 'victim-ledger-93f1';
  const SECRET_PATH = 'secret-plans/victim-only.txt';
  const PIN_PATH = 'secret-plans/pin.txt';
  const VICTIM_DEVICES = ['victim-laptop-7c2e', 'victim-old-phone-5d1a'];
  const chunkOf = (marker: string, size: number, seed: number) => {
    const bytes = Buffer.concat([
      Buffer.from(marker),
      pseudoRandomBytes(size - marker.length, seed),
    ]);
    return { id: chunkIdOf(bytes) as string, bytes };
  };
  const secretChunks = [
    chunkOf('VICTIM-CHUNK-ONE|', 40_961, 11),
    chunkOf('VICTIM-CHUNK-TWO|', 27_183, 12),
  ];
  const secretSize = secretChunks.reduce((n, c) => n + c.bytes.length, 0); // 68,144
  const secretContentId = contentIdOf(secretChunks.map((c) => ({ id: c.id as ChunkId })));
  const secretManifest = {
    contentId: secretContentId,
    size: secretSize,
    chunks: secretChunks.map((c) => ({ id: c.id, size: c.bytes.length })),
  };
  const pin = Buffer.from('PIN=1234');
  const pinId = chunkIdOf(pin) as string;
  const SIZES = /\b(68144|40961|27183)\b/;

  const tokenOf = (caller: CallerName): string | undefined => {
    if (caller === 'anonymous') return undefined;
    if (caller === 'malformed') return MALFORMED;
    if (caller === 'revoked') return revokedToken;
    if (caller === 'disabled') return disabledToken;
    return tokens[USER_OF[caller]!];
  };

  async function call(token: string | undefined, req: Req, label?: string): Promise<RawResponse> {
    const headers: Record<string, string> = { ...req.headers };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let body: Buffer | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(req.json));
    } else if (req.body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/octet-stream';
      body = req.body;
    }
    const response = await send(base, {
      method: req.method,
      path: req.path,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    seen.push({ label: label ?? `${req.method} ${req.path}`, response });
    return response;
  }

  const json = <T>(response: RawResponse): T => JSON.parse(response.text) as T;

  async function register(user: string, deviceName = `${user}-device`) {
    const response = await call(undefined, {
      method: 'POST',
      path: '/api/v1/auth/register',
      json: { user, password: password(user), deviceName },
    });
    expect(response.status, response.text).toBe(201);
    tokens[user] = json<{ token: string }>(response).token;
  }

  async function login(user: string, deviceName: string) {
    const response = await call(undefined, {
      method: 'POST',
      path: '/api/v1/auth/login',
      json: { user, password: password(user), deviceName },
    });
    expect(response.status, response.text).toBe(200);
    const auth = json<{ token: string; device: { id: string } }>(response);
    return { id: auth.device.id, token: auth.token };
  }

  async function upload(token: string, workspace: string, chunks: { id: string; bytes: Buffer }[]) {
    return call(token, {
      method: 'POST',
      path: `/api/v1/workspaces/${workspace}/chunks`,
      body: chunkFrames(chunks),
    });
  }

  async function commit(token: string, workspace: string, request: unknown) {
    return call(token, {
      method: 'POST',
      path: `/api/v1/workspaces/${workspace}/commit`,
      json: request,
    });
  }

  const dirPut = (path: string) => ({ op: 'put', path, base: 0, entry: { kind: 'dir' } });
  const filePut = (path: string, contentId: string, size: number) => ({
    op: 'put',
    path,
    base: 0,
    entry: { kind: 'file', contentId, size, executable: false, mtime: 1_700_000_000_000 },
  });

  /** What a refused request must leave as it was: every table a route can write. */
  async function fingerprint() {
    const db = app.hub.db;
    return {
      users: await db
        .selectFrom('users')
        .select(['id', 'name', 'password_hash', 'disabled_at', 'quota'])
        .orderBy('id')
        .execute(),
      devices: await db.selectFrom('devices').select(['id', 'revoked_at']).orderBy('id').execute(),
      workspaces: await db
        .selectFrom('workspaces')
        .select(['id', 'name', 'head'])
        .orderBy('id')
        .execute(),
      members: await db
        .selectFrom('members')
        .selectAll()
        .orderBy('workspace_id')
        .orderBy('user_id')
        .execute(),
      journal: await db.selectFrom('journal').select(['workspace_id', 'seq']).execute(),
      contents: await db.selectFrom('contents').select('id').orderBy('id').execute(),
      links: await db.selectFrom('workspace_chunks').selectAll().execute(),
      leases: await db.selectFrom('upload_leases').selectAll().execute(),
      invites: await db.selectFrom('invites').selectAll().orderBy('code_hash').execute(),
      settings: await db.selectFrom('hub_settings').selectAll().orderBy('key').execute(),
    };
  }

  /** The names of W's secrets found in an answer to `caller`. */
  function leaks(caller: CallerName, text: string, bytes: Buffer): string[] {
    const found: string[] = [];
    // The victim's device names are the victim's own to see, nobody else's.
    const needles: [string, string][] =
      caller === 'owner' ? [] : VICTIM_DEVICES.map((d): [string, string] => ['a device name', d]);
    if (!mayReadW(caller))
      needles.push(
        ['the workspace name', W_NAME],
        ['a path', 'secret-plans'],
        ['a path', 'victim-only.txt'],
        ['the content id', secretContentId],
        ...secretChunks.map((c): [string, string] => ['a chunk id', c.id]),
        ['the PIN chunk id', pinId],
        ['the PIN', 'PIN=1234'],
        ['chunk bytes', 'VICTIM-CHUNK'],
      );
    for (const [what, needle] of needles) if (text.includes(needle)) found.push(what);
    if (!mayReadW(caller)) {
      if (SIZES.test(text)) found.push('a file size');
      for (const c of secretChunks)
        if (bytes.includes(c.bytes.subarray(20_000, 20_064))) found.push('chunk bytes (binary)');
    }
    return found;
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-matrix-'));
    const { db } = await openDatabase({ kind: 'sqlite', file: join(dataDir, 'tandem.db') });
    destroyDb = () => db.destroy();
    chunkStore = await DiskChunkStore.open(join(dataDir, 'chunks'));
    app = await buildApp({
      db,
      chunks: chunkStore,
      signInLimits: { perAccountAddress: 1_000_000, perAddress: 1_000_000 },
    });
    app.server.on('connection', (socket: Socket) => {
      serverSockets.add(socket);
      socket.on('close', () => serverSockets.delete(socket));
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    app.hub.events.subscribe((event) => events.push(event));

    // The first user of a hub is its administrator: root, so that the victim is not one.
    await register('root');
    await register('victim', VICTIM_DEVICES[0]);
    for (const user of [
      'viewer',
      'editor',
      'outsider',
      'bystander',
      'loginuser',
      'leaver',
      'former',
    ])
      await register(user);
    const me = json<{ user: { admin: boolean } }>(
      await call(tokens.root, { method: 'GET', path: '/api/v1/me' }),
    );
    expect(me.user.admin).toBe(true);
    const victim = await call(tokens.victim, { method: 'GET', path: '/api/v1/me' });
    expect(json<{ user: { admin: boolean } }>(victim).user.admin).toBe(false);

    const created = await call(tokens.victim, {
      method: 'POST',
      path: '/api/v1/workspaces',
      json: { name: W_NAME },
    });
    W = json<{ id: string }>(created).id;
    for (const [user, role] of [
      ['viewer', 'viewer'],
      ['editor', 'editor'],
      ['former', 'editor'],
    ] as const) {
      const shared = await call(tokens.victim, {
        method: 'PUT',
        path: `/api/v1/workspaces/${W}/members`,
        json: { user, role },
      });
      expect(shared.status, shared.text).toBe(204);
    }
    expect(
      (await upload(tokens.victim!, W, [...secretChunks, { id: pinId, bytes: pin }])).status,
    ).toBe(200);
    const pinContent = contentIdOf([{ id: pinId as ChunkId }]);
    const committed = await commit(tokens.victim!, W, {
      ops: [filePut(SECRET_PATH, secretContentId, secretSize), filePut(PIN_PATH, pinContent, 8)],
      manifests: [
        secretManifest,
        { contentId: pinContent, size: 8, chunks: [{ id: pinId, size: 8 }] },
      ],
    });
    expect(json<{ results: { ok: boolean }[] }>(committed).results).toEqual([
      expect.objectContaining({ ok: true }),
      expect.objectContaining({ ok: true }),
    ]);

    // A second device of the victim, revoked: its token is a former insider's.
    const old = await login('victim', VICTIM_DEVICES[1]!);
    revokedToken = old.token;
    const revoked = await call(tokens.victim, {
      method: 'DELETE',
      path: `/api/v1/devices/${old.id}`,
    });
    expect(revoked.status).toBe(204);

    // A former editor of W, whose account the administrator disabled: a former insider.
    disabledToken = tokens.former!;
    const disabled = await call(tokens.root, {
      method: 'POST',
      path: '/api/v1/admin/users/former/disable',
    });
    expect(disabled.status, disabled.text).toBe(200);

    // The outsider has a workspace of their own, with a file of their own.
    O = json<{ id: string }>(
      await call(tokens.outsider, {
        method: 'POST',
        path: '/api/v1/workspaces',
        json: { name: 'outsider-space' },
      }),
    ).id;
    const own = chunkOf('OUTSIDER-OWN|', 5_000, 21);
    expect((await upload(tokens.outsider!, O, [own])).status).toBe(200);
    const ownContent = contentIdOf([{ id: own.id as ChunkId }]);
    await commit(tokens.outsider!, O, {
      ops: [filePut('mine.txt', ownContent, 5_000)],
      manifests: [{ contentId: ownContent, size: 5_000, chunks: [{ id: own.id, size: 5_000 }] }],
    });
  });

  afterAll(async () => {
    for (const outcome of clientSockets) if (outcome.open) outcome.ws.terminate();
    // Connections the hub did not close itself (see the refused-upgrade test) would keep
    // app.close() waiting forever.
    for (const socket of serverSockets) socket.destroy();
    await app?.close();
    await chunkStore?.close();
    await destroyDb?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Opens a socket and keeps it for closing at the end. */
  async function socket(headers: Record<string, string>, query?: string) {
    const outcome = await openSocket(base, { headers, ...(query !== undefined ? { query } : {}) });
    clientSockets.push(outcome);
    if (!outcome.open)
      seen.push({ label: 'GET /api/v1/events (upgrade)', response: refusal(outcome) });
    return outcome;
  }
  const refusal = (outcome: SocketOutcome & { open: false }): RawResponse => ({
    status: outcome.status,
    headers: {},
    body: Buffer.from(outcome.body),
    text: outcome.body,
  });
  const auth = (token: string | undefined): Record<string, string> =>
    token === undefined ? {} : { authorization: `Bearer ${token}` };

  const loginFor = (caller: CallerName) =>
    login(USER_OF[caller] ?? 'victim', `spare-${caller}-${next()}`);
  const probeFor = (caller: CallerName) => {
    const bytes = Buffer.from(
      `upload probe from ${caller} #${next()} ${randomBytes(8).toString('hex')}`,
    );
    return { id: chunkIdOf(bytes) as string, bytes };
  };

  /**
   * A fresh workspace of the victim's with W's members in W's roles (so that each caller's
   * expectation holds for it too), for requests that would end W (delete, leave); with
   * `coOwner`, the bystander owns it too, so that the victim may leave it.
   */
  async function likeW(coOwner = false): Promise<string> {
    const made = await call(tokens.victim, {
      method: 'POST',
      path: '/api/v1/workspaces',
      json: { name: `like-w-${next()}` },
    });
    const id = json<{ id: string }>(made).id;
    await setMember(app.hub, id, 'viewer', 'viewer');
    await setMember(app.hub, id, 'editor', 'editor');
    if (coOwner) await setMember(app.hub, id, 'bystander', 'owner');
    return id;
  }
  const workspaceRow = (id: string) =>
    app.hub.db.selectFrom('workspaces').select('name').where('id', '=', id).executeTakeFirst();

  /** One valid request per route, keyed `METHOD url` as in the route table. */
  const EXAMPLES: Record<string, Example> = {
    'GET /health': {
      request: () => ({ method: 'GET', path: '/health' }),
      status: 200,
      check: (r) => expect(json(r)).toMatchObject({ ok: true, status: 'up' }),
    },
    'GET /api/v1/health': {
      request: () => ({ method: 'GET', path: '/api/v1/health' }),
      status: 200,
      check: (r) => expect(json(r)).toMatchObject({ ok: true, status: 'up' }),
    },
    'GET /api/v1/openapi.json': {
      request: () => ({ method: 'GET', path: '/api/v1/openapi.json' }),
      status: 200,
      check: (r) =>
        expect(Object.keys(json<{ paths: object }>(r).paths)).toContain(
          '/api/v1/workspaces/{id}/commit',
        ),
    },
    'GET /api/docs': {
      request: () => ({ method: 'GET', path: '/api/docs' }),
      status: 200,
      check: (r) => expect(r.text).toContain('/api/v1/workspaces/{id}/commit'),
    },
    'GET /': {
      request: () => ({ method: 'GET', path: '/' }),
      status: 200,
      check: (r) => expect(r.text).toContain('Tandem hub'),
    },
    'POST /api/v1/auth/register': {
      request: (caller) => ({
        method: 'POST',
        path: '/api/v1/auth/register',
        json: { user: `new-${caller}-${next()}`, password: 'a new password', deviceName: 'new' },
      }),
      status: 201,
      check: (r) => expect(json<{ token: string }>(r).token).toMatch(/^tdm_/),
    },
    'POST /api/v1/auth/login': {
      request: (caller) => ({
        method: 'POST',
        path: '/api/v1/auth/login',
        json: { user: 'loginuser', password: password('loginuser'), deviceName: `at-${caller}` },
      }),
      status: 200,
      check: (r) => expect(json<{ token: string }>(r).token).toMatch(/^tdm_/),
    },
    'POST /api/v1/auth/password': {
      // Each caller sets its own password again (the same one: the other cells sign in with it).
      prepare: async (caller) => ({ hash: await passwordHashOf(USER_OF[caller] ?? 'victim') }),
      request: (caller) => ({
        method: 'POST',
        path: '/api/v1/auth/password',
        json: {
          current: password(USER_OF[caller] ?? 'victim'),
          password: password(USER_OF[caller] ?? 'victim'),
        },
      }),
      status: 204,
      check: async (_r, caller, { hash }) =>
        expect(await passwordHashOf(USER_OF[caller]!)).not.toBe(hash),
      whenRefused: async (caller, { hash }) =>
        expect(await passwordHashOf(USER_OF[caller] ?? 'victim')).toBe(hash),
    },
    'GET /api/v1/me': {
      request: () => ({ method: 'GET', path: '/api/v1/me' }),
      status: 200,
      check: (r, caller) =>
        expect(json(r)).toMatchObject({
          user: { name: USER_OF[caller] },
          storage: {
            used: caller === 'owner' ? secretSize + pin.length : expect.any(Number),
            quota: null,
          },
        }),
    },
    'GET /api/v1/devices': {
      request: () => ({ method: 'GET', path: '/api/v1/devices' }),
      status: 200,
      check: (r) =>
        expect(
          json<{ devices: { current: boolean }[] }>(r).devices.filter((d) => d.current),
        ).toHaveLength(1),
    },
    'DELETE /api/v1/devices/:id': {
      // Each signed-in caller revokes a spare device of its own; the others try the victim's.
      prepare: async (caller) => ({ device: await loginFor(caller) }),
      request: (_caller, { device }) => ({
        method: 'DELETE',
        path: `/api/v1/devices/${device!.id}`,
      }),
      status: 204,
      check: async (_r, _caller, { device }) =>
        expect(
          errorCode((await call(device!.token, { method: 'GET', path: '/api/v1/me' })).text),
        ).toBe('DEVICE_REVOKED'),
      whenRefused: async (_caller, { device }) =>
        expect((await call(device!.token, { method: 'GET', path: '/api/v1/me' })).status).toBe(200),
    },
    'GET /api/v1/workspaces': {
      request: () => ({ method: 'GET', path: '/api/v1/workspaces' }),
      status: 200,
      check: (r, caller) => {
        const ids = json<{ workspaces: { id: string }[] }>(r).workspaces.map((w) => w.id);
        expect(ids.includes(W)).toBe(mayReadW(caller));
        expect(ids.includes(O)).toBe(caller === 'outsider');
      },
    },
    'POST /api/v1/workspaces': {
      request: (caller) => ({
        method: 'POST',
        path: '/api/v1/workspaces',
        json: { name: `made-by-${caller}-${next()}` },
      }),
      status: 201,
    },
    'PATCH /api/v1/workspaces/:id': {
      request: (caller) => ({
        method: 'PATCH',
        path: `/api/v1/workspaces/${W}`,
        json: { name: `${W_NAME}-by-${caller}` },
      }),
      status: 204,
      check: async (_r, caller) => {
        expect((await workspaceRow(W))?.name).toBe(`${W_NAME}-by-${caller}`);
        await app.hub.db
          .updateTable('workspaces')
          .set({ name: W_NAME })
          .where('id', '=', W)
          .execute();
      },
      whenRefused: async () => expect((await workspaceRow(W))?.name).toBe(W_NAME),
    },
    'DELETE /api/v1/workspaces/:id': {
      prepare: async () => ({ workspace: await likeW() }),
      request: (_caller, { workspace }) => ({
        method: 'DELETE',
        path: `/api/v1/workspaces/${workspace!}`,
      }),
      status: 204,
      check: async (_r, _caller, { workspace }) => {
        expect(await workspaceRow(workspace!)).toBeUndefined();
        expect(await roleOf('victim', workspace!)).toBeUndefined();
      },
      whenRefused: async (_caller, { workspace }) =>
        expect(await roleOf('viewer', workspace!)).toBe('viewer'),
    },
    'GET /api/v1/workspaces/:id/members': {
      request: () => ({ method: 'GET', path: `/api/v1/workspaces/${W}/members` }),
      status: 200,
      check: (r) =>
        expect(json<{ members: unknown[] }>(r).members).toEqual(
          expect.arrayContaining([
            { user: 'victim', role: 'owner' },
            { user: 'editor', role: 'editor' },
            { user: 'viewer', role: 'viewer' },
          ]),
        ),
    },
    'POST /api/v1/workspaces/:id/leave': {
      prepare: async () => ({ workspace: await likeW(true) }),
      request: (_caller, { workspace }) => ({
        method: 'POST',
        path: `/api/v1/workspaces/${workspace!}/leave`,
      }),
      status: 204,
      check: async (_r, caller, { workspace }) =>
        expect(await roleOf(USER_OF[caller]!, workspace!)).toBeUndefined(),
      whenRefused: async (_caller, { workspace }) =>
        expect(await roleOf('viewer', workspace!)).toBe('viewer'),
    },
    'PUT /api/v1/workspaces/:id/members': {
      prepare: async () => {
        await setMember(app.hub, W, 'bystander', 'viewer');
        return {};
      },
      request: () => ({
        method: 'PUT',
        path: `/api/v1/workspaces/${W}/members`,
        json: { user: 'bystander', role: 'editor' },
      }),
      status: 204,
      check: async () => expect(await roleOf('bystander', W)).toBe('editor'),
      whenRefused: async () => expect(await roleOf('bystander', W)).toBe('viewer'),
    },
    'DELETE /api/v1/workspaces/:id/members/:user': {
      prepare: async () => {
        await setMember(app.hub, W, 'bystander', 'viewer');
        return {};
      },
      request: () => ({ method: 'DELETE', path: `/api/v1/workspaces/${W}/members/bystander` }),
      status: 204,
      check: async () => expect(await roleOf('bystander', W)).toBeUndefined(),
      whenRefused: async () => expect(await roleOf('bystander', W)).toBe('viewer'),
    },
    'GET /api/v1/workspaces/:id/changes': {
      request: () => ({ method: 'GET', path: `/api/v1/workspaces/${W}/changes?since=0` }),
      status: 200,
      check: (r) =>
        expect(json<{ snapshot: { path: string }[] }>(r).snapshot.map((e) => e.path)).toContain(
          SECRET_PATH,
        ),
    },
    'GET /api/v1/workspaces/:id/history': {
      request: () => ({
        method: 'GET',
        path: `/api/v1/workspaces/${W}/history?path=${encodeURIComponent(SECRET_PATH)}`,
      }),
      status: 200,
      check: (r) => expect(json<{ rows: unknown[] }>(r).rows.length).toBeGreaterThan(0),
    },
    'POST /api/v1/workspaces/:id/chunks/missing': {
      prepare: async (caller) => ({ probe: probeFor(caller) }),
      request: (_caller, { probe }) => ({
        method: 'POST',
        // (With the bytes the upload would add: W's owner has no quota, so it fits.)
        path: `/api/v1/workspaces/${W}/chunks/missing?growth=1024`,
        json: { ids: [...secretChunks.map((c) => c.id), probe!.id] },
      }),
      status: 200,
      check: (r, _caller, { probe }) =>
        expect(json<{ missing: string[] }>(r).missing).toEqual([probe!.id]),
    },
    'POST /api/v1/workspaces/:id/chunks': {
      prepare: async (caller) => ({ probe: probeFor(caller) }),
      request: (_caller, { probe }) => ({
        method: 'POST',
        path: `/api/v1/workspaces/${W}/chunks`,
        body: chunkFrames([probe!]),
      }),
      status: 200,
      check: async (r, _caller, { probe }) => {
        expect(json(r)).toEqual({ stored: 1 });
        expect((await chunkStore.has([probe!.id as ChunkId])).size).toBe(1);
      },
      whenRefused: async (_caller, { probe }) =>
        expect((await chunkStore.has([probe!.id as ChunkId])).size).toBe(0),
    },
    'POST /api/v1/workspaces/:id/previews': {
      request: () => ({
        method: 'POST',
        path: `/api/v1/workspaces/${W}/previews`,
        json: {
          upload: '0123456789abcdef',
          path: SECRET_PATH,
          size: secretSize,
          at: 0,
          chunks: [{ id: secretChunks[0]!.id, size: secretChunks[0]!.bytes.length }],
        },
      }),
      status: 204,
    },
    'GET /api/v1/workspaces/:id/chunks/:chunkId': {
      request: () => ({
        method: 'GET',
        path: `/api/v1/workspaces/${W}/chunks/${secretChunks[0]!.id}`,
      }),
      status: 200,
      check: (r) => expect(r.body.equals(secretChunks[0]!.bytes)).toBe(true),
    },
    'POST /api/v1/workspaces/:id/chunks/fetch': {
      request: () => ({
        method: 'POST',
        path: `/api/v1/workspaces/${W}/chunks/fetch`,
        json: { ids: secretChunks.map((c) => c.id) },
      }),
      status: 200,
      check: (r) =>
        expect(
          parseChunkFrames(r.body).map((c) =>
            c.bytes.equals(secretChunks.find((s) => s.id === c.id)!.bytes),
          ),
        ).toEqual([true, true]),
    },
    'POST /api/v1/workspaces/:id/contents/fetch': {
      request: () => ({
        method: 'POST',
        path: `/api/v1/workspaces/${W}/contents/fetch`,
        json: { ids: [secretContentId] },
      }),
      status: 200,
      check: (r) => expect(json(r)).toEqual({ manifests: [secretManifest] }),
    },
    'POST /api/v1/workspaces/:id/commit': {
      request: (caller) => ({
        method: 'POST',
        path: `/api/v1/workspaces/${W}/commit`,
        json: { ops: [dirPut(`matrix/${caller}-${next()}`)] },
      }),
      status: 200,
      check: (r) =>
        expect(json<{ results: { ok: boolean }[] }>(r).results).toEqual([
          expect.objectContaining({ ok: true }),
        ]),
    },
    // The event socket: an upgrade; once open, the caller asks to follow W, which only its
    // members may (the socket's own message is checked against every caller too).
    'GET /api/v1/events': {
      request: () => ({ method: 'GET', path: '/api/v1/events' }),
      status: 101,
    },
    'POST /api/v1/admin/invites': {
      request: () => ({ method: 'POST', path: '/api/v1/admin/invites' }),
      status: 201,
      check: (r) => expect(json<{ code: string }>(r).code).toMatch(/^tdi_/),
    },
    'GET /api/v1/admin/users': {
      request: () => ({ method: 'GET', path: '/api/v1/admin/users' }),
      status: 200,
      check: (r) => {
        const users = json<{ users: { name: string; disabled: boolean; devices: number }[] }>(
          r,
        ).users;
        expect(users.map((u) => u.name)).toEqual(expect.arrayContaining(['root', 'victim']));
        expect(users.find((u) => u.name === 'former')?.disabled).toBe(true);
      },
    },
    'POST /api/v1/admin/users/:user/disable': {
      prepare: async () => {
        const name = `spare-user-${next()}`;
        await register(name);
        return { user: { name, token: tokens[name]! } };
      },
      request: (_caller, { user }) => ({
        method: 'POST',
        path: `/api/v1/admin/users/${user!.name}/disable`,
      }),
      status: 200,
      check: async (_r, _caller, { user }) =>
        expect(
          errorCode((await call(user!.token, { method: 'GET', path: '/api/v1/me' })).text),
        ).toBe('ACCOUNT_DISABLED'),
      whenRefused: async (_caller, { user }) =>
        expect((await call(user!.token, { method: 'GET', path: '/api/v1/me' })).status).toBe(200),
    },
    'POST /api/v1/admin/users/:user/enable': {
      prepare: async () => {
        const name = `spare-user-${next()}`;
        await register(name);
        const disabled = await call(tokens.root, {
          method: 'POST',
          path: `/api/v1/admin/users/${name}/disable`,
        });
        expect(disabled.status).toBe(200);
        return { user: { name, token: tokens[name]! } };
      },
      request: (_caller, { user }) => ({
        method: 'POST',
        path: `/api/v1/admin/users/${user!.name}/enable`,
      }),
      status: 200,
      check: async (_r, _caller, { user }) =>
        expect((await call(user!.token, { method: 'GET', path: '/api/v1/me' })).status).toBe(200),
      whenRefused: async (_caller, { user }) =>
        expect(
          errorCode((await call(user!.token, { method: 'GET', path: '/api/v1/me' })).text),
        ).toBe('ACCOUNT_DISABLED'),
    },
    'POST /api/v1/admin/users/:user/reset-password': {
      prepare: async () => {
        const name = `spare-user-${next()}`;
        await register(name);
        return { user: { name, token: tokens[name]! } };
      },
      request: (_caller, { user }) => ({
        method: 'POST',
        path: `/api/v1/admin/users/${user!.name}/reset-password`,
      }),
      status: 200,
      check: async (r, _caller, { user }) => {
        const signIn = (pw: string) =>
          call(undefined, {
            method: 'POST',
            path: '/api/v1/auth/login',
            json: { user: user!.name, password: pw, deviceName: 'after-reset' },
          });
        expect((await signIn(password(user!.name))).status).toBe(401);
        expect((await signIn(json<{ password: string }>(r).password)).status).toBe(200);
      },
      whenRefused: async (_caller, { user }) =>
        expect(
          (
            await call(undefined, {
              method: 'POST',
              path: '/api/v1/auth/login',
              json: { user: user!.name, password: password(user!.name), deviceName: 'kept' },
            })
          ).status,
        ).toBe(200),
    },
    'PUT /api/v1/admin/users/:user/quota': {
      prepare: async () => {
        const name = `spare-user-${next()}`;
        await register(name);
        return { user: { name, token: tokens[name]! } };
      },
      request: (_caller, { user }) => ({
        method: 'PUT',
        path: `/api/v1/admin/users/${user!.name}/quota`,
        json: { quota: 2 ** 40 },
      }),
      status: 204,
      check: async (_r, _caller, { user }) =>
        expect(
          json<{ storage: { quota: number | null } }>(
            await call(user!.token, { method: 'GET', path: '/api/v1/me' }),
          ).storage.quota,
        ).toBe(2 ** 40),
    },
    // (A default far above anything stored here, and reset at once: the other cells go on.)
    'PUT /api/v1/admin/default-quota': {
      request: () => ({
        method: 'PUT',
        path: '/api/v1/admin/default-quota',
        json: { quota: 2 ** 50 },
      }),
      status: 204,
      check: async () => {
        expect(
          json<{ storage: { quota: number | null } }>(
            await call(tokens.outsider, { method: 'GET', path: '/api/v1/me' }),
          ).storage.quota,
        ).toBe(2 ** 50);
        // Back to none, as the other routes' checks expect.
        const reset = await call(tokens.root, {
          method: 'PUT',
          path: '/api/v1/admin/default-quota',
          json: { quota: null },
        });
        expect(reset.status).toBe(204);
      },
    },
    'GET /metrics': {
      request: () => ({ method: 'GET', path: '/metrics' }),
      status: 200,
      check: (r) => expect(r.text).toMatch(/^# HELP tandem_http_requests_total /m),
    },
    'GET /api/v1/stats': {
      request: () => ({ method: 'GET', path: '/api/v1/stats' }),
      status: 200,
      check: (r) => expect(typeof json<{ chunksIn: unknown }>(r).chunksIn).toBe('number'),
    },
  };

  async function passwordHashOf(user: string): Promise<string> {
    const row = await app.hub.db
      .selectFrom('users')
      .select('password_hash')
      .where('name', '=', user)
      .executeTakeFirstOrThrow();
    return row.password_hash;
  }

  async function roleOf(user: string, workspace: string): Promise<string | undefined> {
    const row = await app.hub.db
      .selectFrom('members')
      .innerJoin('users', 'users.id', 'members.user_id')
      .select('members.role')
      .where('users.name', '=', user)
      .where('members.workspace_id', '=', workspace)
      .executeTakeFirst();
    return row?.role;
  }

  /** The socket cell: the upgrade, then a subscription to W, answered as the caller's role says. */
  async function socketCell(caller: CallerName): Promise<RawResponse> {
    const outcome = await socket(auth(tokenOf(caller)));
    if (!outcome.open) return refusal(outcome);
    const welcome = await until(
      () => outcome.messages.some((m) => m.data.type === 'welcome'),
      2000,
    );
    outcome.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [W] }));
    const answered = await until(() => outcome.messages.some((m) => m.data.workspace === W), 2000);
    await new Promise((r) => setTimeout(r, 50)); // anything sent after the answer
    outcome.ws.close();
    const about = outcome.messages.filter((m) => m.data.workspace === W).map((m) => m.data);
    const label = `socket of ${caller}`;
    expect.soft(welcome, `${label}: welcome`).toBe(true);
    expect.soft(answered, `${label}: an answer to subscribe`).toBe(true);
    if (mayReadW(caller)) {
      // First the caller's role (what an agent goes by), then the head.
      expect
        .soft(about[0], label)
        .toMatchObject({ type: 'access', workspace: W, name: W_NAME, role: ROLE_ON_W[caller] });
      expect.soft(about[1], label).toMatchObject({ type: 'changed', workspace: W });
    } else
      expect
        .soft(about, label)
        .toEqual([expect.objectContaining({ type: 'unsubscribed', code: 'WORKSPACE_NOT_FOUND' })]);
    const text = outcome.messages.map((m) => m.text).join('\n');
    return { status: 101, headers: {}, body: Buffer.from(text), text };
  }

  /** Runs more checks of a cell, reporting a failure without stopping the other cells. */
  async function softly(label: string, checks: () => unknown): Promise<void> {
    try {
      await checks();
    } catch (error) {
      expect.soft(error instanceof Error ? error.message : String(error), label).toBeUndefined();
    }
  }

  it('has an example request for every route of the route table, and a route for every example', () => {
    const routes = ROUTES.map(routeKey);
    expect(routes.length).toBeGreaterThan(10);
    expect(
      routes.filter((key) => EXAMPLES[key] === undefined),
      'routes without an example',
    ).toEqual([]);
    expect(
      Object.keys(EXAMPLES).filter((key) => !routes.includes(key)),
      'examples of no route',
    ).toEqual([]);
  });

  for (const route of ROUTES) {
    it(`${routeKey(route)} (${route.access}) answers each caller as its access says`, async () => {
      const example = EXAMPLES[routeKey(route)];
      expect(
        example,
        `no example request for ${routeKey(route)}: add one to EXAMPLES`,
      ).toBeDefined();
      let allowedCells = 0;
      for (const caller of CALLERS) {
        const expectation = expectationOf(route.access, caller);
        const prepared = (await example!.prepare?.(caller)) ?? {};
        const before = await fingerprint();
        const eventsBefore = events.length;
        const request = example!.request(caller, prepared);
        const label = `${routeKey(route)} as ${caller}`;
        const response = route.websocket
          ? await socketCell(caller)
          : await call(tokenOf(caller), request, label);
        if ('allowed' in expectation) {
          allowedCells++;
          expect
            .soft(response.status, `${label}: ${response.text.slice(0, 300)}`)
            .toBe(example!.status);
          if (response.status === example!.status)
            await softly(label, () => example!.check?.(response, caller, prepared));
        } else {
          expect
            .soft(response.status, `${label}: ${response.text.slice(0, 300)}`)
            .toBe(expectation.status);
          expect.soft(errorCode(response.text), label).toBe(expectation.code);
          expect.soft(await fingerprint(), `${label} changed the hub's state`).toEqual(before);
          expect.soft(events.slice(eventsBefore), `${label} published events`).toEqual([]);
          await softly(label, () => example!.whenRefused?.(caller, prepared));
        }
        expect
          .soft(leaks(caller, response.text, response.body), `${label} leaks W's secrets`)
          .toEqual([]);

        // HEAD is the GET as far as access goes: the same answer, without a body.
        if (route.method === 'GET' && !route.websocket) {
          const head = await call(tokenOf(caller), { ...request, method: 'HEAD' }, `HEAD ${label}`);
          expect
            .soft(head.status, `HEAD ${label}`)
            .toBe('allowed' in expectation ? example!.status : expectation.status);
          expect.soft(head.body.length, `HEAD ${label} has a body`).toBe(0);
          expect
            .soft(leaks(caller, JSON.stringify(head.headers), head.body), `HEAD ${label}`)
            .toEqual([]);
        }
      }
      // Not vacuous: somebody may call every route, and did, successfully.
      expect(allowedCells).toBeGreaterThan(0);
    });
  }

  // ---- The attacks (SECURITY.md): each test is named after the bug it would be. ----

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const randomId = () => randomBytes(32).toString('hex');
  /** An answer with the ids it names replaced, to compare answers about different ids. */
  const shape = (r: RawResponse, ...ids: string[]) => {
    let text = r.text;
    for (const id of ids) text = text.split(id).join('<id>');
    return { status: r.status, text };
  };
  /** No secret of W in an answer to the outsider, but for the ids it sent itself. */
  const expectNoSecrets = (r: RawResponse, label: string, ...sent: string[]) =>
    expect(leaks('outsider', shape(r, ...sent).text, r.body), label).toEqual([]);

  it("(a) read-by-hash through previews: naming W's chunk in a preview to O grants no bytes", async () => {
    const [chunk] = secretChunks;
    const eventsBefore = events.length;
    const preview = (id: string, size: number) =>
      call(tokens.outsider, {
        method: 'POST',
        path: `/api/v1/workspaces/${O}/previews`,
        json: {
          upload: 'feedfacefeedface',
          path: 'stolen.bin',
          size,
          at: 0,
          chunks: [{ id, size }],
        },
      });
    const named = await preview(chunk!.id, chunk!.bytes.length);
    expect(named.status, named.text).toBe(404);
    expect(errorCode(named.text)).toBe('CHUNK_NOT_FOUND');
    // The same answer as for a chunk nobody ever stored: no existence oracle either.
    const unknown = randomId();
    expect(shape(named, chunk!.id)).toEqual(
      shape(await preview(unknown, chunk!.bytes.length), unknown),
    );
    expect(events.slice(eventsBefore).filter((e) => e.kind === 'preview')).toEqual([]);

    const one = await call(tokens.outsider, {
      method: 'GET',
      path: `/api/v1/workspaces/${O}/chunks/${chunk!.id}`,
    });
    expect(one.status).toBe(404);
    expect(errorCode(one.text)).toBe('CHUNK_NOT_FOUND');
    const many = await call(tokens.outsider, {
      method: 'POST',
      path: `/api/v1/workspaces/${O}/chunks/fetch`,
      json: { ids: secretChunks.map((c) => c.id) },
    });
    expect(many.status).toBe(404);
    for (const r of [named, one, many]) {
      expect(r.body.includes(chunk!.bytes.subarray(100, 164))).toBe(false);
      expect(r.text).not.toContain('VICTIM-CHUNK');
      expectNoSecrets(r, 'an answer through O', ...secretChunks.map((c) => c.id));
    }
    const missing = await call(tokens.outsider, {
      method: 'POST',
      path: `/api/v1/workspaces/${O}/chunks/missing`,
      json: { ids: [chunk!.id] },
    });
    expect(json(missing)).toEqual({ missing: [chunk!.id] });
  });

  it("(b) read-by-hash through commits: a manifest of W's chunks committed to O grants no bytes", async () => {
    const path = `loot-${next()}/victim-only.txt`;
    const withManifest = await commit(tokens.outsider!, O, {
      ops: [filePut(path, secretContentId, secretSize)],
      manifests: [secretManifest],
    });
    expect(withManifest.status, withManifest.text).toBe(200);
    expect(json<{ results: unknown[] }>(withManifest).results).toEqual([
      expect.objectContaining({ ok: false, reason: 'missing-content' }),
    ]);
    const withoutManifest = await commit(tokens.outsider!, O, {
      ops: [filePut(path, secretContentId, secretSize)],
    });
    expect(json<{ results: unknown[] }>(withoutManifest).results).toEqual([
      expect.objectContaining({ ok: false, reason: 'missing-content' }),
    ]);
    // With one chunk it really has, the manifest is still not whole in O.
    const real = probeFor('outsider');
    expect((await upload(tokens.outsider!, O, [real])).status).toBe(200);
    const mixed = [{ id: real.id, size: real.bytes.length }, ...secretManifest.chunks];
    const mixedManifest = {
      contentId: contentIdOf(mixed.map((c) => ({ id: c.id as ChunkId }))),
      size: mixed.reduce((n, c) => n + c.size, 0),
      chunks: mixed,
    };
    const partly = await commit(tokens.outsider!, O, {
      ops: [filePut(`${path}.2`, mixedManifest.contentId, mixedManifest.size)],
      manifests: [mixedManifest],
    });
    expect(json<{ results: unknown[] }>(partly).results).toEqual([
      expect.objectContaining({ ok: false, reason: 'missing-content' }),
    ]);

    for (const c of secretChunks) {
      const one = await call(tokens.outsider, {
        method: 'GET',
        path: `/api/v1/workspaces/${O}/chunks/${c.id}`,
      });
      expect(one.status).toBe(404);
      expectNoSecrets(one, 'GET chunk through O', c.id);
    }
    const many = await call(tokens.outsider, {
      method: 'POST',
      path: `/api/v1/workspaces/${O}/chunks/fetch`,
      json: { ids: secretChunks.map((c) => c.id) },
    });
    expect(many.status).toBe(404);
    expect(many.text).not.toContain('VICTIM-CHUNK');
    const manifests = await call(tokens.outsider, {
      method: 'POST',
      path: `/api/v1/workspaces/${O}/contents/fetch`,
      json: { ids: [secretContentId, mixedManifest.contentId] },
    });
    expect(json(manifests)).toEqual({ manifests: [] });
    const tree = await call(tokens.outsider, {
      method: 'GET',
      path: `/api/v1/workspaces/${O}/changes?since=0`,
    });
    expect(tree.text).not.toContain('loot-');
    const linked = await app.hub.db
      .selectFrom('workspace_chunks')
      .select('chunk_id')
      .where('workspace_id', '=', O)
      .where(
        'chunk_id',
        'in',
        secretChunks.map((c) => c.id),
      )
      .execute();
    expect(linked).toEqual([]);
  });

  it('(c) existence oracle: O is told every chunk of W is missing, and a PIN cannot be brute-forced', async () => {
    const randoms = [randomId(), randomId(), randomId()];
    const asked = [...secretChunks.map((c) => c.id), pinId, ...randoms];
    const missing = await call(tokens.outsider, {
      method: 'POST',
      path: `/api/v1/workspaces/${O}/chunks/missing`,
      json: { ids: asked },
    });
    expect(missing.status).toBe(200);
    expect(new Set(json<{ missing: string[] }>(missing).missing)).toEqual(new Set(asked));

    // Every 4-digit PIN, hashed as the victim's agent would chunk the file `PIN=dddd`.
    const candidates = Array.from({ length: 10_000 }, (_, n) =>
      chunkIdOf(Buffer.from(`PIN=${String(n).padStart(4, '0')}`)),
    );
    expect(candidates).toContain(pinId);
    const ask = (token: string | undefined, workspace: string) =>
      call(token, {
        method: 'POST',
        path: `/api/v1/workspaces/${workspace}/chunks/missing`,
        json: { ids: candidates },
      });
    const outsider = await ask(tokens.outsider, O);
    expect(outsider.status).toBe(200);
    expect(json<{ missing: string[] }>(outsider).missing).toHaveLength(10_000);
    // The oracle is real for the rightful owner (so the outsider's answer means something).
    const owner = await ask(tokens.victim, W);
    expect(new Set(candidates).size - json<{ missing: string[] }>(owner).missing.length).toBe(1);
    expect(json<{ missing: string[] }>(owner).missing).not.toContain(pinId);

    // Nor do other answers differ between a stored chunk and one that never was.
    const stranger = chunkIdOf(Buffer.from('PIN=99999'));
    const get = (id: string) =>
      call(tokens.outsider, { method: 'GET', path: `/api/v1/workspaces/${O}/chunks/${id}` });
    expect(shape(await get(pinId), pinId)).toEqual(shape(await get(stranger), stranger));
    // A manifest giving the chunk a wrong size: a hub that checked sizes of chunks O does
    // not have would answer 400 for the stored one only.
    const lying = (id: string) => {
      const chunks = [{ id, size: 9 }];
      const contentId = contentIdOf([{ id: id as ChunkId }]);
      return commit(tokens.outsider!, O, {
        ops: [filePut(`guess-${next()}.txt`, contentId, 9)],
        manifests: [{ contentId, size: 9, chunks }],
      });
    };
    const onStored = await lying(pinId);
    const onUnknown = await lying(stranger);
    expect(onStored.status, onStored.text).toBe(200);
    expect(onUnknown.status).toBe(200);
    const reasons = (r: RawResponse) =>
      json<{ results: { reason?: string }[] }>(r).results.map((x) => x.reason);
    expect(reasons(onStored)).toEqual(['missing-content']);
    expect(reasons(onUnknown)).toEqual(['missing-content']);
  });

  it('(d) lying manifest: a wrong chunk size is refused with 400, and the hub keeps no such manifest', async () => {
    const chunk = chunkOf(`LIE-${next()}|`, 1_000, 31);
    expect((await upload(tokens.victim!, W, [chunk])).status).toBe(200);
    const contentId = contentIdOf([{ id: chunk.id as ChunkId }]);
    const headBefore = (await fingerprint()).workspaces.find((w) => w.id === W)!.head;
    const stored = async () =>
      app.hub.db.selectFrom('contents').selectAll().where('id', '=', contentId).execute();

    const lie = await commit(tokens.victim!, W, {
      ops: [filePut('lies/short.txt', contentId, 999)],
      manifests: [{ contentId, size: 999, chunks: [{ id: chunk.id, size: 999 }] }],
    });
    expect(lie.status, lie.text).toBe(400);
    expect(errorCode(lie.text)).toBe('BAD_REQUEST');
    const message = json<{ error: { message: string } }>(lie).error.message;
    expect(message).toContain(chunk.id);
    expect(message).toMatch(/999/);
    expect(message).toMatch(/1000/);
    expect(await stored()).toEqual([]);
    expect((await fingerprint()).workspaces.find((w) => w.id === W)!.head).toBe(headBefore);

    // Two stored chunks whose wrong sizes add up to the right total are refused too.
    const other = chunkOf(`LIE-B-${next()}|`, 600, 32);
    expect((await upload(tokens.victim!, W, [other])).status).toBe(200);
    const pair = [
      { id: chunk.id, size: 1_001 },
      { id: other.id, size: 599 },
    ];
    const pairId = contentIdOf(pair.map((c) => ({ id: c.id as ChunkId })));
    const balanced = await commit(tokens.victim!, W, {
      ops: [filePut('lies/balanced.txt', pairId, 1_600)],
      manifests: [{ contentId: pairId, size: 1_600, chunks: pair }],
    });
    expect(balanced.status, balanced.text).toBe(400);
    expect(
      await app.hub.db.selectFrom('contents').select('id').where('id', '=', pairId).execute(),
    ).toEqual([]);
    // A manifest whose size is not the sum of its chunks is refused before anything.
    const sum = await commit(tokens.victim!, W, {
      ops: [filePut('lies/sum.txt', contentId, 1_000)],
      manifests: [{ contentId, size: 1_001, chunks: [{ id: chunk.id, size: 1_000 }] }],
    });
    expect(sum.status).toBe(400);

    // The honest manifest works, but the entry's size must still be the content's.
    const honest = { contentId, size: 1_000, chunks: [{ id: chunk.id, size: 1_000 }] };
    const wrongEntry = await commit(tokens.victim!, W, {
      ops: [filePut('lies/entry.txt', contentId, 999)],
      manifests: [honest],
    });
    expect(wrongEntry.status).toBe(200);
    expect(json<{ results: unknown[] }>(wrongEntry).results).toEqual([
      expect.objectContaining({ ok: false, reason: 'invalid' }),
    ]);
    const good = await commit(tokens.victim!, W, {
      ops: [filePut('lies/honest.txt', contentId, 1_000)],
      manifests: [honest],
    });
    expect(json<{ results: unknown[] }>(good).results).toEqual([
      expect.objectContaining({ ok: true }),
    ]);
    const fetched = await call(tokens.viewer, {
      method: 'POST',
      path: `/api/v1/workspaces/${W}/contents/fetch`,
      json: { ids: [contentId] },
    });
    expect(json(fetched)).toEqual({ manifests: [honest] });
  });

  it('(e) revoked socket: closed with 4401 at once, and nothing committed afterwards reaches it', async () => {
    const device = await login('victim', `victim-socket-${next()}`);
    const outcome = await socket(auth(device.token));
    expect(outcome.open).toBe(true);
    if (!outcome.open) return;
    outcome.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [W] }));
    expect(
      await until(
        () => outcome.messages.some((m) => m.data.type === 'changed' && m.data.workspace === W),
        2000,
      ),
    ).toBe(true);

    const revokedAt = Date.now();
    const revoke = await call(tokens.victim, {
      method: 'DELETE',
      path: `/api/v1/devices/${device.id}`,
    });
    expect(revoke.status).toBe(204);
    const closed = await Promise.race([outcome.closed, sleep(1500).then(() => undefined)]);
    expect(closed, 'the socket was not closed within 1.5 s of the revocation').toBeDefined();
    expect(closed!.code).toBe(4401);
    expect(closed!.reason).toMatch(/revoked/i);
    expect(closed!.at - revokedAt).toBeLessThan(1000);

    // The same second: the token no longer works over HTTP either.
    const me = await call(device.token, { method: 'GET', path: '/api/v1/me' });
    expect(me.status).toBe(401);
    expect(errorCode(me.text)).toBe('DEVICE_REVOKED');

    const after = await commit(tokens.victim!, W, { ops: [dirPut(`after-revocation-${next()}`)] });
    expect(after.status).toBe(200);
    const preview = await call(tokens.victim, {
      method: 'POST',
      path: `/api/v1/workspaces/${W}/previews`,
      json: {
        upload: 'abcdefabcdefabcd',
        path: 'after-revocation.bin',
        size: secretSize,
        at: 0,
        chunks: [{ id: secretChunks[0]!.id, size: secretChunks[0]!.bytes.length }],
      },
    });
    expect(preview.status).toBe(204);
    await sleep(300);
    const late = outcome.messages.filter((m) => m.at >= revokedAt);
    expect(late.filter((m) => m.data.type === 'changed' || m.data.type === 'uploading')).toEqual(
      [],
    );
    expect(outcome.messages.map((m) => m.text).join('\n')).not.toContain('after-revocation');

    // A socket opened with a revoked or malformed token, or none: HTTP 401, no socket.
    for (const [what, headers, code] of [
      ['revoked', auth(device.token), 'DEVICE_REVOKED'],
      ['malformed', auth(MALFORMED), 'UNAUTHENTICATED'],
      ['no token', {}, 'UNAUTHENTICATED'],
    ] as const) {
      const refused = await socket({ ...headers });
      expect(refused.open, what).toBe(false);
      if (refused.open) continue;
      expect(refused.status, what).toBe(401);
      expect(errorCode(refused.body), what).toBe(code);
    }
  });

  it('(e) a refused socket upgrade: the hub answers 401 and closes the connection', async () => {
    // Otherwise every refused upgrade keeps a socket open on the hub for good (an anonymous
    // client can use up its file descriptors), and app.close() waits for it forever.
    for (const headers of [{}, { Authorization: `Bearer ${MALFORMED}` }]) {
      const { head, closedByHub } = await rawUpgrade(base, headers, 1000);
      expect(head).toMatch(/^HTTP\/1\.1 401 /);
      expect(closedByHub, 'the hub kept the refused connection open for 1 s').toBe(true);
    }
  });

  it('(f) removed member: the socket is unsubscribed at once, hears nothing of W, and HTTP answers 404', async () => {
    const shared = await call(tokens.victim, {
      method: 'PUT',
      path: `/api/v1/workspaces/${W}/members`,
      json: { user: 'leaver', role: 'viewer' },
    });
    expect(shared.status).toBe(204);
    const outcome = await socket(auth(tokens.leaver));
    expect(outcome.open).toBe(true);
    if (!outcome.open) return;
    outcome.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [W] }));
    expect(
      await until(
        () => outcome.messages.some((m) => m.data.type === 'changed' && m.data.workspace === W),
        2000,
      ),
    ).toBe(true);

    const removedAt = Date.now();
    const removed = await call(tokens.victim, {
      method: 'DELETE',
      path: `/api/v1/workspaces/${W}/members/leaver`,
    });
    expect(removed.status).toBe(204);
    const unsubscribed = () =>
      outcome.messages.find((m) => m.data.type === 'unsubscribed' && m.data.workspace === W);
    expect(await until(() => unsubscribed() !== undefined, 1000)).toBe(true);
    expect(unsubscribed()!.data).toMatchObject({ code: 'ACCESS_REMOVED' });
    expect(unsubscribed()!.at - removedAt).toBeLessThan(1000);

    const path = `after-removal-${next()}`;
    expect((await commit(tokens.victim!, W, { ops: [dirPut(path)] })).status).toBe(200);
    const preview = await call(tokens.victim, {
      method: 'POST',
      path: `/api/v1/workspaces/${W}/previews`,
      json: {
        upload: 'abcdefabcdef0123',
        path: `${path}/big.bin`,
        size: secretSize,
        at: 0,
        chunks: [{ id: secretChunks[0]!.id, size: secretChunks[0]!.bytes.length }],
      },
    });
    expect(preview.status).toBe(204);
    // Asking to follow W again is refused, as for any workspace one cannot see.
    outcome.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [W] }));
    await sleep(300);
    const later = outcome.messages.filter(
      (m) => m.at >= unsubscribed()!.at && m !== unsubscribed(),
    );
    expect(later.map((m) => m.data)).toEqual([
      expect.objectContaining({ type: 'unsubscribed', workspace: W, code: 'WORKSPACE_NOT_FOUND' }),
    ]);
    expect(outcome.messages.map((m) => m.text).join('\n')).not.toContain(path);

    for (const request of [
      { method: 'GET', path: `/api/v1/workspaces/${W}/changes?since=0` },
      { method: 'GET', path: `/api/v1/workspaces/${W}/chunks/${secretChunks[0]!.id}` },
      {
        method: 'POST',
        path: `/api/v1/workspaces/${W}/chunks/fetch`,
        json: { ids: [secretChunks[0]!.id] },
      },
      {
        method: 'POST',
        path: `/api/v1/workspaces/${W}/contents/fetch`,
        json: { ids: [secretContentId] },
      },
    ]) {
      const r = await call(tokens.leaver, request);
      expect(r.status, `${request.method} ${request.path}`).toBe(404);
      expect(errorCode(r.text)).toBe('WORKSPACE_NOT_FOUND');
      expect(leaks('outsider', r.text, r.body)).toEqual([]);
    }
  });

  it('(g) tokens in URLs: ?token= and the like are never accepted, on any route', async () => {
    const names = ['token', 'access_token', 'auth', 'authorization', 'bearer', 'api_key'];
    let tried = 0;
    for (const route of ROUTES) {
      if (route.access === 'anonymous') continue;
      const caller: CallerName = route.access === 'admin' ? 'admin' : 'owner';
      const token = tokenOf(caller)!;
      for (const name of names) {
        const value = encodeURIComponent(name === 'authorization' ? `Bearer ${token}` : token);
        const label = `${routeKey(route)} with ?${name}=`;
        if (route.websocket) {
          const refused = await socket({}, `?${name}=${value}`);
          expect(refused.open, label).toBe(false);
          if (!refused.open) expect(refused.status, label).toBe(401);
          tried++;
          continue;
        }
        const example = EXAMPLES[routeKey(route)]!;
        const prepared = (await example.prepare?.(caller)) ?? {};
        const request = example.request(caller, prepared);
        const path = `${request.path}${request.path.includes('?') ? '&' : '?'}${name}=${value}`;
        const before = await fingerprint();
        const r = await call(undefined, { ...request, path }, label);
        expect(r.status, `${label}: ${r.text}`).toBe(401);
        expect(errorCode(r.text), label).toBe('UNAUTHENTICATED');
        expect(await fingerprint(), label).toEqual(before);
        tried++;
      }
      // Nor in a cookie: agents send the Authorization header, and browsers are not served yet.
      if (!route.websocket) {
        const example = EXAMPLES[routeKey(route)]!;
        const prepared = (await example.prepare?.(caller)) ?? {};
        const request = example.request(caller, prepared);
        const r = await call(
          undefined,
          { ...request, headers: { cookie: `token=${token}; session=${token}` } },
          `${routeKey(route)} with a cookie`,
        );
        expect(r.status, `${routeKey(route)} with a cookie`).toBe(401);
      }
    }
    expect(tried).toBeGreaterThan(50);
  });

  it('(h) the last owner can be neither removed nor demoted (409 LAST_OWNER)', async () => {
    const created = await call(tokens.victim, {
      method: 'POST',
      path: '/api/v1/workspaces',
      json: { name: `solo-${next()}` },
    });
    const solo = json<{ id: string }>(created).id;
    const as = (user: string, request: Req) => call(tokens[user], request);
    const removeSelf = (user: string) =>
      as(user, { method: 'DELETE', path: `/api/v1/workspaces/${solo}/members/${user}` });
    const setRole = (user: string, target: string, role: string) =>
      as(user, {
        method: 'PUT',
        path: `/api/v1/workspaces/${solo}/members`,
        json: { user: target, role },
      });
    for (const attempt of [
      removeSelf('victim'),
      setRole('victim', 'victim', 'editor'),
      setRole('victim', 'victim', 'viewer'),
    ]) {
      const r = await attempt;
      expect(r.status, r.text).toBe(409);
      expect(errorCode(r.text)).toBe('LAST_OWNER');
    }
    expect(await roleOf('victim', solo)).toBe('owner');
    // With a second owner, the first may step down; then the second is the last.
    expect((await setRole('victim', 'editor', 'owner')).status).toBe(204);
    expect((await setRole('victim', 'victim', 'editor')).status).toBe(204);
    const last = await removeSelf('editor');
    expect(last.status).toBe(409);
    expect(errorCode(last.text)).toBe('LAST_OWNER');
    const demote = await setRole('editor', 'editor', 'viewer');
    expect(errorCode(demote.text)).toBe('LAST_OWNER');
    expect(await roleOf('editor', solo)).toBe('owner');
    // And W keeps its only owner too.
    const w = await call(tokens.victim, {
      method: 'DELETE',
      path: `/api/v1/workspaces/${W}/members/victim`,
    });
    expect(errorCode(w.text)).toBe('LAST_OWNER');
  });

  it('(h) the last owner cannot leave; a second owner is added, then the first may leave', async () => {
    const solo = json<{ id: string }>(
      await call(tokens.victim, {
        method: 'POST',
        path: '/api/v1/workspaces',
        json: { name: `leaving-${next()}` },
      }),
    ).id;
    const leave = (user: string) =>
      call(tokens[user], { method: 'POST', path: `/api/v1/workspaces/${solo}/leave` });
    const refused = await leave('victim');
    expect(refused.status, refused.text).toBe(409);
    expect(errorCode(refused.text)).toBe('LAST_OWNER');
    expect(json<{ error: { message: string } }>(refused).error.message).toMatch(
      /always keeps at least one owner/,
    );
    expect(await roleOf('victim', solo)).toBe('owner');
    // Only an owner removes another owner: an editor may not, not even to make room.
    await setMember(app.hub, solo, 'editor', 'editor');
    const byEditor = await call(tokens.editor, {
      method: 'DELETE',
      path: `/api/v1/workspaces/${solo}/members/victim`,
    });
    expect(byEditor.status).toBe(403);
    expect(await roleOf('victim', solo)).toBe('owner');
    // An editor may leave; a second owner makes the first free to leave.
    expect((await leave('editor')).status).toBe(204);
    expect(await roleOf('editor', solo)).toBeUndefined();
    await setMember(app.hub, solo, 'bystander', 'owner');
    expect((await leave('victim')).status).toBe(204);
    expect(await roleOf('victim', solo)).toBeUndefined();
    const last = await leave('bystander');
    expect(errorCode(last.text)).toBe('LAST_OWNER');
    // One who left is an outsider: 404, not 403.
    const again = await leave('victim');
    expect(again.status).toBe(404);
    expect(errorCode(again.text)).toBe('WORKSPACE_NOT_FOUND');
  });

  it('(j) access gained reaches the open sockets of that user only; a role change reaches a following socket', async () => {
    const shared = json<{ id: string }>(
      await call(tokens.victim, {
        method: 'POST',
        path: '/api/v1/workspaces',
        json: { name: `gained-${next()}` },
      }),
    ).id;
    const bystander = await socket(auth(tokens.bystander));
    const outsider = await socket(auth(tokens.outsider));
    expect(bystander.open && outsider.open).toBe(true);
    if (!bystander.open || !outsider.open) return;
    const about = (outcome: typeof bystander) =>
      outcome.messages.filter((m) => m.data.workspace === shared).map((m) => m.data);
    expect(
      (
        await call(tokens.victim, {
          method: 'PUT',
          path: `/api/v1/workspaces/${shared}/members`,
          json: { user: 'bystander', role: 'viewer' },
        })
      ).status,
    ).toBe(204);
    expect(await until(() => about(bystander).length > 0, 1000)).toBe(true);
    expect(about(bystander)).toEqual([
      { type: 'access', workspace: shared, name: expect.any(String), role: 'viewer' },
    ]);
    // Following it, the socket hears of an upgrade at once.
    bystander.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [shared] }));
    expect(await until(() => about(bystander).some((m) => m.type === 'changed'), 1000)).toBe(true);
    await setMember(app.hub, shared, 'bystander', 'editor');
    expect(
      await until(
        () =>
          about(bystander).some(
            (m) => m.type === 'access' && (m as { role?: string }).role === 'editor',
          ),
        1000,
      ),
    ).toBe(true);
    await sleep(100);
    expect(about(outsider)).toEqual([]);
  });

  it('(k) a deleted workspace: followers are told, its ids answer 404, its chunks stay for other workspaces', async () => {
    const doomed = json<{ id: string }>(
      await call(tokens.victim, {
        method: 'POST',
        path: '/api/v1/workspaces',
        json: { name: `doomed-${next()}` },
      }),
    ).id;
    await setMember(app.hub, doomed, 'viewer', 'viewer');
    // The same bytes in W and in the doomed workspace: stored once, linked to both.
    expect((await upload(tokens.victim!, doomed, [secretChunks[0]!])).status).toBe(200);
    const manifest = {
      contentId: contentIdOf([{ id: secretChunks[0]!.id as ChunkId }]),
      size: secretChunks[0]!.bytes.length,
      chunks: [{ id: secretChunks[0]!.id, size: secretChunks[0]!.bytes.length }],
    };
    await commit(tokens.victim!, doomed, {
      ops: [filePut('copy.bin', manifest.contentId, manifest.size)],
      manifests: [manifest],
    });
    const follower = await socket(auth(tokens.viewer));
    expect(follower.open).toBe(true);
    if (!follower.open) return;
    follower.ws.send(JSON.stringify({ type: 'subscribe', workspaces: [doomed] }));
    expect(
      await until(
        () =>
          follower.messages.some((m) => m.data.type === 'changed' && m.data.workspace === doomed),
        1000,
      ),
    ).toBe(true);
    const byEditor = await call(tokens.viewer, {
      method: 'DELETE',
      path: `/api/v1/workspaces/${doomed}`,
    });
    expect(byEditor.status).toBe(403);
    const deleted = await call(tokens.victim, {
      method: 'DELETE',
      path: `/api/v1/workspaces/${doomed}`,
    });
    expect(deleted.status, deleted.text).toBe(204);
    const told = () =>
      follower.messages.find((m) => m.data.type === 'unsubscribed' && m.data.workspace === doomed);
    expect(await until(() => told() !== undefined, 1000)).toBe(true);
    expect(told()!.data).toMatchObject({ code: 'WORKSPACE_DELETED' });
    expect(told()!.text).toMatch(/was deleted on the hub/);
    for (const request of [
      { method: 'GET', path: `/api/v1/workspaces/${doomed}/changes?since=0` },
      { method: 'GET', path: `/api/v1/workspaces/${doomed}/chunks/${secretChunks[0]!.id}` },
      { method: 'DELETE', path: `/api/v1/workspaces/${doomed}` },
    ]) {
      const r = await call(tokens.victim, request);
      expect(r.status, request.path).toBe(404);
      expect(errorCode(r.text)).toBe('WORKSPACE_NOT_FOUND');
    }
    const db = app.hub.db;
    for (const table of ['members', 'entries', 'journal', 'workspace_chunks'] as const)
      expect(
        await db
          .selectFrom(table)
          .select('workspace_id')
          .where('workspace_id', '=', doomed)
          .execute(),
        table,
      ).toEqual([]);
    // W still links and serves the chunk the two shared.
    expect((await chunkStore.has([secretChunks[0]!.id as ChunkId])).size).toBe(1);
    const fromW = await call(tokens.viewer, {
      method: 'GET',
      path: `/api/v1/workspaces/${W}/chunks/${secretChunks[0]!.id}`,
    });
    expect(fromW.status).toBe(200);
  });

  it("another user's device id answers 404, and that device keeps working", async () => {
    const target = await login('victim', `victim-target-${next()}`);
    for (const caller of ['outsider', 'viewer', 'editor', 'admin'] as const) {
      const r = await call(tokenOf(caller), {
        method: 'DELETE',
        path: `/api/v1/devices/${target.id}`,
      });
      expect(r.status, caller).toBe(404);
      expect(errorCode(r.text)).toBe('NOT_FOUND');
    }
    expect((await call(target.token, { method: 'GET', path: '/api/v1/me' })).status).toBe(200);
  });

  it('(i) bad requests are answered 4xx with a Tandem error, not 5xx', async () => {
    const owner = tokens.victim;
    const cases: [string, Req, number][] = [
      [
        'malformed JSON',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/commit`,
          body: Buffer.from('{"ops": ['),
          contentType: 'application/json',
        },
        400,
      ],
      ['a wrong type', { method: 'POST', path: '/api/v1/workspaces', json: { name: 5 } }, 400],
      [
        'a number as a string',
        { method: 'GET', path: `/api/v1/workspaces/${W}/changes?since=abc` },
        400,
      ],
      [
        'a limit of 0',
        { method: 'GET', path: `/api/v1/workspaces/${W}/changes?since=1&limit=0` },
        400,
      ],
      [
        'a cursor ahead of the hub',
        { method: 'GET', path: `/api/v1/workspaces/${W}/changes?since=9999999999` },
        409,
      ],
      [
        'a path with NUL',
        { method: 'GET', path: `/api/v1/workspaces/${W}/history?path=a%00b` },
        400,
      ],
      [
        'a path leaving the workspace',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/commit`,
          json: { ops: [dirPut('../escape')] },
        },
        400,
      ],
      [
        'a lone surrogate in a name',
        { method: 'POST', path: '/api/v1/workspaces', json: { name: 'x\ud800' } },
        400,
      ],
      [
        'an mtime of 1e18',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/commit`,
          json: {
            ops: [
              {
                ...filePut('m', secretContentId, secretSize),
                entry: {
                  kind: 'file',
                  contentId: secretContentId,
                  size: secretSize,
                  executable: false,
                  mtime: 1e18,
                },
              },
            ],
          },
        },
        400,
      ],
      [
        'too many ids',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/chunks/missing`,
          json: { ids: Array.from({ length: 20_001 }, () => pinId) },
        },
        400,
      ],
      [
        'an extra property',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/chunks/fetch`,
          json: { ids: [], admin: true },
        },
        400,
      ],
      [
        'JSON to the chunk upload',
        { method: 'POST', path: `/api/v1/workspaces/${W}/chunks`, json: {} },
        415,
      ],
      [
        'bytes to the commit',
        { method: 'POST', path: `/api/v1/workspaces/${W}/commit`, body: Buffer.from('xx') },
        400,
      ],
      [
        'an unknown media type',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/commit`,
          body: Buffer.from('<x/>'),
          contentType: 'application/xml',
        },
        415,
      ],
      [
        'a chunk that does not match its id',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/chunks`,
          body: chunkFrames([{ id: pinId, bytes: Buffer.from('PIN=0000') }]),
        },
        422,
      ],
      [
        'a truncated chunk frame',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/chunks`,
          body: chunkFrames([{ id: pinId, bytes: pin }]).subarray(0, 20),
        },
        400,
      ],
      [
        'a frame longer than any chunk',
        {
          method: 'POST',
          path: `/api/v1/workspaces/${W}/chunks`,
          body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0]),
        },
        400,
      ],
      [
        'a chunk id that is no hash',
        { method: 'GET', path: `/api/v1/workspaces/${W}/chunks/not-a-hash` },
        400,
      ],
      [
        'a body too large',
        { method: 'POST', path: '/api/v1/workspaces', json: { name: 'x'.repeat(70_000) } },
        413,
      ],
      ['an unknown route', { method: 'GET', path: '/api/v1/nothing-here' }, 404],
      ['an unknown method', { method: 'PATCH', path: '/api/v1/workspaces' }, 404],
      [
        'an unknown member',
        { method: 'DELETE', path: `/api/v1/workspaces/${W}/members/nobody-at-all` },
        404,
      ],
    ];
    for (const [what, request, status] of cases) {
      const r = await call(owner, request, `bad request: ${what}`);
      expect(r.status, `${what}: ${r.text}`).toBe(status);
      expect(isTandemError(r.text), `${what}: ${r.text}`).toBe(true);
    }
  });

  it('(i) every 4xx/5xx answer of this file was a Tandem error, with no stack trace or hub path', () => {
    const errors = seen.filter((s) => s.response.status >= 400 && !s.label.startsWith('HEAD '));
    expect(errors.length).toBeGreaterThan(100);
    const bad = errors
      .filter(
        (s) =>
          !isTandemError(s.response.text) ||
          /\n\s+at |node:internal|\.[cm]?[jt]s:\d+|\/src\/|\/dist\//.test(s.response.text) ||
          s.response.text.includes(dataDir) ||
          s.response.text.includes(tmpdir()),
      )
      .map((s) => `${s.label} -> ${s.response.status} ${s.response.text.slice(0, 200)}`);
    expect(bad).toEqual([]);
    expect(seen.filter((s) => s.response.status >= 500).map((s) => s.label)).toEqual([]);
  });

  it('(i) URLs refused before routing (a malformed %-escape, an over-long param) get a Tandem error body', async () => {
    for (const [path, status] of [
      [`/api/v1/workspaces/%zz/changes`, 400],
      [`/api/v1/workspaces/${W}/members/%ED%A0%80`, 400],
      ['/%E0%A4%A', 400],
      [`/api/v1/workspaces/${'a'.repeat(101)}/changes`, 414],
    ] as const) {
      const r = await call(tokens.victim, { method: 'GET', path });
      expect(r.status, path).toBe(status);
      expect(isTandemError(r.text), `${path}: ${r.text}`).toBe(true);
    }
  });

  it('(i) HTTP-level client errors are answered with a Tandem error body', async () => {
    const host = new URL(base).host;
    for (const [what, text] of [
      [
        'headers too large',
        `GET /api/v1/health HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      ],
      ['a malformed request line', 'GARBAGE\r\n\r\n'],
      [
        'both Content-Length and chunked',
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ],
    ] as const) {
      const r = await rawHttp(base, text);
      expect(r.status, what).toBeGreaterThanOrEqual(400);
      expect(isTandemError(r.body), `${what}: ${r.head.split('\r\n')[0]} ${r.body}`).toBe(true);
    }
  });

  it("(i) a plain GET of the event socket's URL is answered with a Tandem error body", async () => {
    const r = await call(tokens.victim, { method: 'GET', path: '/api/v1/events' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(isTandemError(r.text), `${r.status} ${JSON.stringify(r.text)}`).toBe(true);
  });
});

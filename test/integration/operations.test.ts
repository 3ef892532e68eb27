/**
 * The operable hub: `/health` says whether the database and the chunk store answer (503 when
 * one does not), `/api/v1/openapi.json` describes every route of the route table as an
 * OpenAPI 3.1 document, `/metrics` counts what the hub does in Prometheus' text format. Each
 * against a real `tandem server` process, or the app on a real SQLite file and chunk folder,
 * made really unavailable (a folder moved away, a database closed), never mocked.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, describe, expect, it } from 'vitest';
import { CommitRequestSchema, HistoryQuerySchema } from '../../src/protocol/schemas.js';
import type { RouteAccess } from '../../src/server/access.js';
import { buildApp } from '../../src/server/app.js';
import { openDatabase } from '../../src/server/db/open.js';
import { MemoryChunkStore } from '../../src/store/chunk-store.js';
import { DiskChunkStore } from '../../src/store/disk-chunk-store.js';
import { chunkIdOf, contentIdOf } from '../../src/core/hashing.js';
import { chunkFrames, openSocket } from '../helpers/hub-http.js';
import {
  background,
  freePort,
  startHub,
  stopAll,
  tandem,
  tempDir,
  waitFor,
  type Background,
} from '../helpers/processes.js';

afterAll(stopAll);

/** The route table, from an app built in this process only to read it. */
async function routeTable(): Promise<readonly RouteAccess[]> {
  const { db } = await openDatabase({ kind: 'sqlite', file: ':memory:' });
  const app = await buildApp({ db, chunks: new MemoryChunkStore() });
  await app.ready();
  const table = [...app.routeTable];
  await app.close();
  await db.destroy();
  return table;
}

interface Health {
  ok: boolean;
  status: string;
  checks: Record<string, { status: string; ms: number }>;
  error?: { code: string; message: string; requestId: string };
}

describe('/health', () => {
  it("answers 503 naming the chunk store while its folder is gone, and 200 once it is back (a real hub's data moved away)", async () => {
    const hub = await startHub();
    const up = await fetch(`${hub.url}/health`);
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({
      ok: true,
      status: 'up',
      checks: { database: { status: 'up' }, chunkStore: { status: 'up' } },
    });

    const chunks = join(hub.dataDir, 'chunks');
    await rename(chunks, `${chunks}.away`);
    const down = await fetch(`${hub.url}/health`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as Health;
    expect(body).toMatchObject({
      ok: false,
      status: 'down',
      checks: { database: { status: 'up' }, chunkStore: { status: 'down' } },
      error: { code: 'HUB_UNAVAILABLE' },
    });
    expect(body.error!.message).toMatch(/chunk store is down/);
    // Anyone may ask: the answer names no path of the hub's; the log has the reason.
    expect(JSON.stringify(body)).not.toContain(hub.dataDir);
    expect(down.headers.get('x-request-id')).toBe(body.error!.requestId);
    await waitFor(
      () => hub.output().includes(body.error!.requestId) && hub.output().includes('chunkStore'),
      { what: () => `the reason in the hub's log: ${hub.output()}` },
    );
    // The older address answers the same.
    expect((await fetch(`${hub.url}/api/v1/health`)).status).toBe(503);

    await rename(`${chunks}.away`, chunks);
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    await hub.stop();
  });

  it('answers 503 naming the database while its file is gone (SQLite would go on writing into the deleted file), and 200 once it is back', async () => {
    const hub = await startHub();
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    const file = join(hub.dataDir, 'tandem.db');
    await rename(file, `${file}.away`);
    const down = await fetch(`${hub.url}/health`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as Health;
    expect(body).toMatchObject({
      checks: { database: { status: 'down' }, chunkStore: { status: 'up' } },
    });
    expect(body.error!.message).toMatch(/database is down/);
    await waitFor(() => hub.output().includes('was deleted while the hub had it open'), {
      what: () => `the reason in the hub's log: ${hub.output()}`,
    });
    await rename(`${file}.away`, file);
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    await hub.stop();
  });

  it('answers 503 naming the database once the database is closed under the app', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-health-'));
    const { db } = await openDatabase({ kind: 'sqlite', file: join(dir, 'tandem.db') });
    const chunks = await DiskChunkStore.open(join(dir, 'chunks'));
    const app = await buildApp({ db, chunks, logLevel: 'silent' });
    try {
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      await db.destroy();
      const down = await app.inject({ method: 'GET', url: '/health' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({
        ok: false,
        checks: { database: { status: 'down' }, chunkStore: { status: 'up' } },
        error: { code: 'HUB_UNAVAILABLE' },
      });
      expect(down.json<Health>().error!.message).toMatch(/database is down/);
    } finally {
      await app.close();
      await chunks.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

type Operation = {
  'x-tandem-access': string;
  parameters: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  security?: unknown[];
  summary?: string;
};

describe('/api/v1/openapi.json and /api/docs', () => {
  it('is a valid OpenAPI 3.1 document listing every route of the route table, with the schemas that validate them', async () => {
    const hub = await startHub();
    const response = await fetch(`${hub.url}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
    };

    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? [], 'OpenAPI validation errors').toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(document.openapi).toMatch(/^3\.1\./);

    const table = await routeTable();
    const listed = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const routes = table.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    expect(listed.sort()).toEqual([...new Set(routes)].sort());
    for (const route of table) {
      const op = document.paths[route.url.replace(/:(\w+)/g, '{$1}')]![route.method.toLowerCase()]!;
      expect(op['x-tandem-access'], `${route.method} ${route.url}`).toBe(route.access);
      expect(op.security === undefined, `${route.url} needs a token`).toBe(
        route.access !== 'anonymous',
      );
    }
    // Each says what it does in words, not only its method and path.
    const unsaid = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(
          ([method, op]) =>
            !op.summary ||
            op.summary === `${method.toUpperCase()} ${path}`.replace(/\{(\w+)\}/g, ':$1'),
        )
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(unsaid, 'routes without a summary (ops/openapi.ts SUMMARIES)').toEqual([]);
    for (const path of ['/health', '/metrics', '/api/v1/openapi.json', '/api/docs'])
      expect(Object.keys(document.paths)).toContain(path);

    // The very schemas that validate requests, not a copy kept by hand.
    const commit = document.paths['/api/v1/workspaces/{id}/commit']!.post!;
    expect(commit.requestBody!.content['application/json']!.schema).toEqual(
      JSON.parse(JSON.stringify(CommitRequestSchema)),
    );
    const history = document.paths['/api/v1/workspaces/{id}/history']!.get!;
    expect(history.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
      {
        name: 'path',
        in: 'query',
        required: true,
        schema: JSON.parse(JSON.stringify(HistoryQuerySchema.properties.path)),
      },
      expect.objectContaining({ name: 'limit', in: 'query', required: false }),
    ]);
    const upload = document.paths['/api/v1/workspaces/{id}/chunks']!.post!;
    expect(Object.keys(upload.requestBody!.content)).toEqual(['application/octet-stream']);

    // The page: every route, readable, and nothing loaded from elsewhere nor run.
    const page = await fetch(`${hub.url}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await page.text();
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|url\(|@import/i);
    expect(html).not.toMatch(/https?:\/\//);
    for (const route of table) expect(html).toContain(route.url.replace(/:(\w+)/g, '{$1}'));
    await hub.stop();
  });
});

/** The samples of a Prometheus text exposition, checked line by line against the format. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  const helped = new Set<string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.trimEnd().split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      (comment[1] === 'HELP' ? helped : typed).add(comment[2]!);
      if (comment[1] === 'TYPE') expect(['counter', 'gauge', 'histogram']).toContain(comment[3]);
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(
        line,
      );
    expect(sample, `not a Prometheus sample: ${line}`).not.toBeNull();
    const family = sample![1]!.replace(/_(bucket|sum|count)$/, '');
    expect(typed.has(family) || typed.has(sample![1]!), `no # TYPE for ${line}`).toBe(true);
    samples.set(`${sample![1]}${sample![2] ?? ''}`, Number(sample![3]));
  }
  expect([...typed].sort()).toEqual([...helped].sort());
  return samples;
}

describe('/metrics', () => {
  it('counts requests by route and status, commits in a latency histogram, sockets, bytes and the chunk store, for administrators only', async () => {
    const hub = await startHub();
    const post = async (path: string, token: string | undefined, body: unknown) =>
      fetch(`${hub.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
    const register = async (user: string) =>
      (
        (await (
          await post('/api/v1/auth/register', undefined, {
            user,
            password: 'a long enough password',
            deviceName: 'd',
          })
        ).json()) as { token: string }
      ).token;
    const admin = await register('root'); // the first user of a hub is its administrator
    const user = await register('someone');
    const scrape = (token?: string) =>
      fetch(`${hub.url}/metrics`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    expect((await scrape()).status).toBe(401);
    expect((await scrape(user)).status).toBe(403);

    const ws = (await (await post('/api/v1/workspaces', user, { name: 'w' })).json()) as {
      id: string;
    };
    const bytes = Buffer.from('metrics test bytes, 33 of them..');
    const id = chunkIdOf(bytes) as string;
    expect(
      (await post(`/api/v1/workspaces/${ws.id}/chunks`, user, chunkFrames([{ id, bytes }]))).status,
    ).toBe(200);
    const contentId = contentIdOf([{ id: id as never }]);
    for (const path of ['a.txt', 'b.txt']) {
      const committed = await post(`/api/v1/workspaces/${ws.id}/commit`, user, {
        ops: [
          {
            op: 'put',
            path,
            base: 0,
            entry: {
              kind: 'file',
              contentId,
              size: bytes.length,
              executable: false,
              mtime: 1_700_000_000_000,
            },
          },
        ],
        manifests: [{ contentId, size: bytes.length, chunks: [{ id, size: bytes.length }] }],
      });
      expect(committed.status).toBe(200);
    }
    const socket = await openSocket(hub.url, { headers: { authorization: `Bearer ${user}` } });
    expect(socket.open).toBe(true);

    const response = await scrape(admin);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(await response.text());
    const commits =
      'tandem_http_requests_total{method="POST",route="/api/v1/workspaces/:id/commit",status="200"}';
    expect(m.get(commits)).toBe(2);
    expect(m.get('tandem_http_requests_total{method="GET",route="/metrics",status="403"}')).toBe(1);
    expect(m.get('tandem_http_requests_total{method="GET",route="/metrics",status="401"}')).toBe(1);
    expect(
      m.get('tandem_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"}'),
    ).toBe(2);
    // Route patterns, never URLs: no id makes a series of its own.
    expect([...m.keys()].filter((k) => k.includes(ws.id))).toEqual([]);
    expect(m.get('tandem_commit_duration_seconds_count')).toBe(2);
    expect(m.get('tandem_commit_duration_seconds_bucket{le="+Inf"}')).toBe(2);
    expect(m.get('tandem_commit_duration_seconds_bucket{le="30"}')).toBe(2);
    expect(m.get('tandem_commit_duration_seconds_sum')).toBeGreaterThan(0);
    expect(m.get('tandem_commits_total')).toBe(2);
    expect(m.get('tandem_connected_agents')).toBe(1);
    expect(m.get('tandem_chunk_store_chunks')).toBe(1);
    expect(m.get('tandem_chunk_store_bytes')).toBe(bytes.length);
    expect(m.get('tandem_chunk_received_bytes_total')).toBe(bytes.length);
    expect(m.get('tandem_network_received_bytes_total')).toBeGreaterThan(bytes.length);
    expect(m.get('tandem_network_sent_bytes_total')).toBeGreaterThan(0);
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);

    if (socket.open) {
      socket.ws.close();
      await socket.closed;
    }
    await waitFor(async () => {
      const again = parseMetrics(await (await scrape(admin)).text());
      return again.get('tandem_connected_agents') === 0;
    });
    await hub.stop();
  });
});

/** The hub's JSON log lines (pino), from its output. */
const logLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('/metrics on an address of its own', () => {
  it('serves /metrics without a token on --metrics-port, and nothing else there', async () => {
    const port = await freePort();
    const hub = await startHub({ args: ['--metrics-port', String(port)] });
    await waitFor(() => hub.output().includes(`metrics on http://127.0.0.1:${port}/metrics`));
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(await response.text());
    expect(m.get('tandem_http_requests_total{method="GET",route="/health",status="200"}')).toBe(1);
    expect(m.get('tandem_chunk_store_bytes')).toBe(0);
    // Only the metrics: not the API, nor a token-free way into it.
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/me`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(404);
    // The hub's own /metrics still wants an administrator.
    expect((await fetch(`${hub.url}/metrics`)).status).toBe(401);
    expect(await hub.stop()).toBe(0);
  });
});

describe('logs', () => {
  it("logs one JSON line per request at info by default, under the request id its answer carries (a proxy's id kept), without tokens", async () => {
    const hub = await startHub();
    const given = await fetch(`${hub.url}/health`, { headers: { 'x-request-id': 'proxy-7.abc' } });
    expect(given.headers.get('x-request-id')).toBe('proxy-7.abc');
    // An id that could forge a log line, or is just too long, is replaced.
    const forged = await fetch(`${hub.url}/health`, {
      headers: { 'x-request-id': `x"}{"level":60 ${'a'.repeat(80)}` },
    });
    const fresh = forged.headers.get('x-request-id')!;
    expect(fresh).toMatch(/^[0-9a-f]{16}$/);
    const registered = await fetch(`${hub.url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'logger', password: 'a long enough password' }),
    });
    const { token } = (await registered.json()) as { token: string };
    const unknown = await fetch(
      `${hub.url}/api/v1/workspaces/00000000-0000-4000-8000-000000000000/changes?since=0`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    expect(unknown.status).toBe(404);
    // Chunks are written to the socket by the route itself (the reply is hijacked): one line too.
    const created = await fetch(`${hub.url}/api/v1/workspaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'logged' }),
    });
    const { id } = (await created.json()) as { id: string };
    const chunks = await fetch(`${hub.url}/api/v1/workspaces/${id}/chunks/fetch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [] }),
    });
    expect(chunks.status).toBe(200);
    await chunks.arrayBuffer();
    const missing = await fetch(`${hub.url}/no/such/route`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);

    const completed = () =>
      logLines(hub.output()).filter((line) => line.msg === 'request completed');
    await waitFor(() => completed().length >= 7, { what: () => hub.output() });
    const ids = completed().map((l) => l.reqId as string);
    expect(ids.filter((reqId, i) => ids.indexOf(reqId) !== i)).toEqual([]);
    expect(
      completed().filter((l) => l.route === '/api/v1/workspaces/:id/chunks/fetch'),
    ).toMatchObject([{ status: 200, method: 'POST' }]);
    expect(completed().find((l) => l.reqId === 'proxy-7.abc')).toMatchObject({
      level: 30,
      method: 'GET',
      url: '/health',
      route: '/health',
      status: 200,
    });
    expect(completed().find((l) => l.reqId === fresh)).toMatchObject({ status: 200 });
    expect(completed().find((l) => l.status === 404 && l.route === 'unmatched')).toBeDefined();
    expect(completed().find((l) => l.route === '/api/v1/workspaces/:id/changes')).toMatchObject({
      status: 404,
      url: expect.not.stringContaining('since'),
    });
    expect(hub.output()).not.toContain(token);
    expect(hub.output()).not.toContain('"level":60');
    await hub.stop();
  });

  it('logs no request at --log-level warn, and refuses a level that is none', async () => {
    const hub = await startHub({ args: ['--log-level', 'warn'] });
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    await hub.stop();
    expect(hub.output()).not.toContain('request completed');
    const wrong = await tandem([
      'server',
      '--data',
      hub.dataDir,
      '--port',
      '0',
      '--log-level',
      'loud',
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /--log-level must be one of fatal, error, warn, info, debug, trace, silent, not "loud"/,
      ),
    ]);
  });
});

describe('tandem server --config FILE', () => {
  it('reads the settings of a TOML file, TANDEM_* variables override it and flags override both', async () => {
    const dir = await tempDir('tandem-config-');
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'hub.toml');
    await writeFile(config, `data = "hub-data"\nport = ${filePort}\nlog-level = "warn"\n`);
    const listening = async (proc: Background) =>
      waitFor(() => /listening on (\S+)/.exec(proc.output())?.[1], {
        what: () => `the hub to listen: ${proc.output()}`,
      });

    const fromFile = background(['server', '--config', config]);
    expect(await listening(fromFile)).toBe(`http://127.0.0.1:${filePort}`);
    expect((await fetch(`http://127.0.0.1:${filePort}/health`)).status).toBe(200);
    await fromFile.stop();
    // The file's data folder, relative to the file; its log level: no request lines.
    expect(fromFile.output()).toContain(`data in ${join(dir, 'hub-data')}`);
    expect(fromFile.output()).not.toContain('request completed');

    const fromEnv = background(['server', '--config', config], {
      env: { TANDEM_PORT: String(envPort), TANDEM_LOG_LEVEL: 'info' },
    });
    expect(await listening(fromEnv)).toBe(`http://127.0.0.1:${envPort}`);
    expect((await fetch(`http://127.0.0.1:${envPort}/health`)).status).toBe(200);
    await waitFor(() => fromEnv.output().includes('request completed'));
    await fromEnv.stop();

    const fromFlag = background(['server', '--config', config, '--port', String(flagPort)], {
      env: { TANDEM_PORT: String(envPort) },
    });
    expect(await listening(fromFlag)).toBe(`http://127.0.0.1:${flagPort}`);
    await fromFlag.stop();
  });

  it('refuses a wrong setting in one line naming the file and the key', async () => {
    const dir = await tempDir('tandem-config-');
    const config = join(dir, 'hub.json');
    await writeFile(config, JSON.stringify({ port: 'eighty' }));
    const result = await tandem(['server', '--config', config]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/hub\.json: "port" must be a number from 0 to 65535, not "eighty"/),
    ]);
  });
});

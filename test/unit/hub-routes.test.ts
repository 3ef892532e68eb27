/**
 * The hub's routes through `app.inject()`: compare-and-swap commits, folder rules, moves,
 * chunk verification and access control.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import type { Entry } from '../../src/core/entry.js';
import { simAccount, startSimHub, type SimHub } from '../helpers/sim.js';

describe('hub routes', () => {
  let hub: SimHub;
  let owner: HubClient;
  let other: HubClient;
  let ws: string;

  beforeAll(async () => {
    hub = await startSimHub();
    owner = await simAccount(hub, 'owner', 'o', true);
    other = await simAccount(hub, 'other', 'x', true);
    ws = (await owner.createWorkspace('routes')).id;
  });
  afterAll(async () => hub.close());

  const dir: Entry = { kind: 'dir', mode: 0o755 };
  const put = (path: string, base: number, entry: Entry = dir) => ({
    op: 'put' as const,
    path,
    base,
    entry,
  });

  it('creates missing parents and applies compare-and-swap per operation', async () => {
    const first = await owner.commit(ws, { ops: [put('a/b/c', 0)] });
    expect(first.results[0]).toMatchObject({ ok: true });
    const tree = await owner.changes(ws, 0);
    expect(tree.snapshot!.map((r) => r.path)).toEqual(['a', 'a/b', 'a/b/c']);
    const seq = tree.snapshot!.find((r) => r.path === 'a/b/c')!.seq;
    // A stale base is a conflict that carries the current entry; the rest of the batch commits.
    const second = await owner.commit(ws, { ops: [put('a/b/c', seq - 1), put('z', 0)] });
    expect(second.results[0]).toMatchObject({
      ok: false,
      reason: 'conflict',
      current: { path: 'a/b/c', seq },
    });
    expect(second.results[1]).toMatchObject({ ok: true });
  });

  it('refuses to delete or replace a folder that is not empty', async () => {
    const tree = await owner.changes(ws, 0);
    const a = tree.snapshot!.find((r) => r.path === 'a')!;
    const result = await owner.commit(ws, {
      ops: [
        { op: 'delete', path: 'a', base: a.seq },
        put('a', a.seq, { kind: 'symlink', target: 'x' }),
      ],
    });
    expect(result.results.map((r) => !r.ok && r.reason)).toEqual(['not-empty', 'not-empty']);
  });

  it('refuses a child under a file or link', async () => {
    await owner.commit(ws, { ops: [put('link', 0, { kind: 'symlink', target: '/etc' })] });
    const result = await owner.commit(ws, { ops: [put('link/passwd', 0)] });
    expect(result.results[0]).toMatchObject({ ok: false, reason: 'parent-not-dir' });
  });

  it('moves a folder as one journal row, keeping its children', async () => {
    const tree = await owner.changes(ws, 0);
    const a = tree.snapshot!.find((r) => r.path === 'a')!;
    const before = tree.head;
    const result = await owner.commit(ws, {
      ops: [{ op: 'move', from: 'a', to: 'moved', base: a.seq }],
    });
    expect(result.results[0]).toMatchObject({ ok: true, node: a.node });
    const moved = result.results[0]!;
    const moveSeq = moved.ok ? moved.seq : 0;
    const feed = await owner.changes(ws, before);
    expect(feed.rows).toHaveLength(1);
    expect(feed.rows![0]).toMatchObject({ op: 'move', from: 'a', path: 'moved' });
    const after = await owner.changes(ws, 0);
    expect(after.snapshot!.map((r) => r.path).filter((p) => p.startsWith('moved'))).toEqual([
      'moved',
      'moved/b',
      'moved/b/c',
    ]);
    const into = await owner.commit(ws, {
      ops: [
        {
          op: 'move',
          from: 'moved',
          to: 'moved/inside',
          base: moveSeq,
        },
      ],
    });
    expect(into.results[0]).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('verifies uploaded chunks against their ids and requires them before a commit', async () => {
    const bytes = randomBytes(1000);
    const id = chunkIdOf(bytes);
    const manifest = manifestOf([{ id, size: bytes.length }]);
    const file: Entry = {
      kind: 'file',
      contentId: manifest.contentId,
      size: manifest.size,
      executable: false,
      mode: 0o644,
      mtime: 1,
    };
    const early = await owner.commit(ws, {
      ops: [put('f', 0, file)],
      manifests: [{ ...manifest, chunks: [...manifest.chunks] }],
    });
    expect(early.results[0]).toMatchObject({ ok: false, reason: 'missing-content' });
    await expect(owner.uploadChunks(ws, [{ id, bytes: randomBytes(1000) }])).rejects.toMatchObject({
      code: 'CHUNK_MISMATCH',
      status: 422,
    });
    expect(await owner.missing(ws, [id])).toEqual(new Set([id]));
    await owner.uploadChunks(ws, [{ id, bytes }]);
    expect(await owner.missing(ws, [id])).toEqual(new Set());
    const done = await owner.commit(ws, {
      ops: [put('f', 0, file)],
      manifests: [{ ...manifest, chunks: [...manifest.chunks] }],
    });
    expect(done.results[0]).toMatchObject({ ok: true });
    const got = [];
    for await (const c of owner.fetchChunks(ws, [id])) got.push(c);
    expect(got[0]!.bytes.equals(bytes)).toBe(true);
  });

  it('hides workspaces from non-members and limits viewers to reading', async () => {
    await expect(other.changes(ws, 0)).rejects.toMatchObject({
      status: 404,
      code: 'WORKSPACE_NOT_FOUND',
    });
    await owner.setMember(ws, 'other', 'viewer');
    expect((await other.changes(ws, 0)).head).toBeGreaterThan(0);
    await expect(other.commit(ws, { ops: [put('v', 0)] })).rejects.toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    await expect(other.missing(ws, [chunkIdOf(Buffer.from('x'))])).rejects.toMatchObject({
      status: 403,
    });
  });

  it('does not serve a chunk through a workspace it does not belong to', async () => {
    const bytes = randomBytes(100);
    const id = chunkIdOf(bytes);
    const otherWs = (await other.createWorkspace('mine')).id;
    await other.uploadChunks(otherWs, [{ id, bytes }]);
    const fetchThrough = async () => {
      for await (const c of owner.fetchChunks(ws, [id])) void c;
    };
    await expect(fetchThrough()).rejects.toMatchObject({ status: 404, code: 'CHUNK_NOT_FOUND' });
  });

  it('passes an upload preview to the other devices, naming only chunks uploaded into the workspace', async () => {
    // (`other` is a viewer of ws since the test above.)
    const bytes = randomBytes(3000);
    const id = chunkIdOf(bytes);
    const stranger = randomBytes(10);
    const seen: unknown[] = [];
    const unsubscribe = hub.app.hub.events.subscribe((event) => seen.push(event));
    const preview = {
      upload: '0123456789abcdef',
      path: 'big/file.bin',
      size: 3000,
      at: 0,
      chunks: [{ id, size: 3000 }],
    };
    const fetchAs = async (client: HubClient, ids: string[]) => {
      const got: Buffer[] = [];
      for await (const c of client.fetchChunks(ws, ids as never)) got.push(c.bytes);
      return got;
    };
    try {
      // Stored on the hub, but not uploaded into this workspace: it cannot be previewed.
      const elsewhere = (await owner.createWorkspace('elsewhere')).id;
      await owner.uploadChunks(elsewhere, [{ id, bytes }]);
      await expect(owner.previewUpload(ws, preview)).rejects.toMatchObject({
        status: 404,
        code: 'CHUNK_NOT_FOUND',
      });
      await expect(fetchAs(other, [id])).rejects.toMatchObject({ code: 'CHUNK_NOT_FOUND' });
      // Uploaded into it by an editor: the workspace's members may read it.
      await owner.uploadChunks(ws, [{ id, bytes }]);
      await expect(
        owner.previewUpload(ws, { ...preview, chunks: [{ id, size: 2999 }] }),
      ).rejects.toMatchObject({ status: 400, code: 'BAD_REQUEST' });
      await expect(
        owner.previewUpload(ws, { ...preview, chunks: [{ id: chunkIdOf(stranger), size: 10 }] }),
      ).rejects.toMatchObject({ status: 404, code: 'CHUNK_NOT_FOUND' });
      await expect(owner.previewUpload(ws, { ...preview, path: '../x' })).rejects.toMatchObject({
        status: 400,
        code: 'INVALID_PATH',
      });
      await expect(owner.previewUpload(ws, { ...preview, upload: 'x' })).rejects.toMatchObject({
        status: 400,
        code: 'BAD_REQUEST',
      });
      await expect(other.previewUpload(ws, preview)).rejects.toMatchObject({ status: 403 });
      expect(seen.filter((e) => (e as { kind: string }).kind === 'preview')).toEqual([]);
      await owner.previewUpload(ws, preview);
      expect(seen.filter((e) => (e as { kind: string }).kind === 'preview')).toEqual([
        { kind: 'preview', workspace: ws, preview, device: expect.any(String) as string },
      ]);
      expect((await fetchAs(other, [id]))[0]!.equals(bytes)).toBe(true);
    } finally {
      unsubscribe();
    }
  });

  it('answers with clear JSON errors for bad input and missing auth', async () => {
    const noAuth = await hub.app.inject({ method: 'GET', url: '/api/v1/workspaces' });
    expect(noAuth.statusCode).toBe(401);
    expect(noAuth.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const bad = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { user: 'has space', password: 'x' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('BAD_REQUEST');
    const unknown = await hub.app.inject({ method: 'GET', url: '/api/v1/nope' });
    expect(unknown.statusCode).toBe(404);
  });

  // Regressions: types were coerced ({"name": 5} made a workspace "5"), `limit=abc` was a 500
  // and `limit=-1` lifted the cap, an mtime of 1e18 was accepted (and then retried by every
  // agent forever), lone surrogates arrived as U+FFFD, and messages showed regular expressions.
  const file = (mtime: unknown) => ({
    ops: [
      {
        op: 'put',
        path: 'a',
        base: 0,
        entry: { kind: 'file', contentId: 'a'.repeat(64), size: 1, executable: false, mtime },
      },
    ],
  });
  const invalid: [string, 'GET' | 'POST', string, unknown, RegExp][] = [
    ['a number where a name goes', 'POST', '/workspaces', { name: 5 }, /body\/name must be string/],
    [
      'a name with a lone surrogate',
      'POST',
      '/workspaces',
      { name: 'x\ud800' },
      /body\/name must not contain control characters/,
    ],
    [
      'an unknown field',
      'POST',
      '/workspaces',
      { name: 'x', owner: 'me' },
      /body has a field it does not take: "owner"/,
    ],
    [
      'a limit that is not a number',
      'GET',
      '/workspaces/:ws/history?path=a&limit=abc',
      undefined,
      /querystring\/limit must be a whole number/,
    ],
    [
      'a negative limit',
      'GET',
      '/workspaces/:ws/history?path=a&limit=-1',
      undefined,
      /querystring\/limit must be a whole number/,
    ],
    [
      'a limit over the cap',
      'GET',
      '/workspaces/:ws/history?path=a&limit=5000',
      undefined,
      /limit must be a whole number from 1 to 1000/,
    ],
    [
      'a cursor in exponent form',
      'GET',
      '/workspaces/:ws/changes?since=1e3',
      undefined,
      /querystring\/since must be a whole number/,
    ],
    [
      'an mtime in the year 31 million',
      'POST',
      '/workspaces/:ws/commit',
      file(1e18),
      /body\/ops\/0\/entry\/mtime must be <=/,
    ],
    ['a negative mtime', 'POST', '/workspaces/:ws/commit', file(-1), /mtime must be >= 0/],
    [
      'an mtime as a string',
      'POST',
      '/workspaces/:ws/commit',
      file('1700000000000'),
      /mtime must be integer/,
    ],
    [
      'a malformed chunk id',
      'POST',
      '/workspaces/:ws/chunks/missing',
      { ids: ['zz'] },
      /body\/ids\/0 must be a SHA-256 id/,
    ],
  ];
  for (const [description, method, url, payload, message] of invalid) {
    it(`refuses ${description} with a 400 that names the field in words`, async () => {
      const response = await hub.app.inject({
        method,
        url: `/api/v1${url.replace(':ws', ws)}`,
        headers: { authorization: `Bearer ${(owner as unknown as { token: string }).token}` },
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });
      expect(response.statusCode, response.body).toBe(400);
      const body = response.json() as { error: { code: string; message: string } };
      expect(body.error.message).toMatch(message);
      expect(body.error.message).not.toMatch(/\^|\$"|\\u/);
    });
  }

  it('refuses a lone surrogate in a path, which used to arrive as U+FFFD', async () => {
    const result = await owner
      .commit(ws, { ops: [{ op: 'put', path: 'x\ud800y', base: 0, entry: dir }] })
      .catch((error: unknown) => error);
    expect(result).toMatchObject({ status: 400, code: 'INVALID_PATH' });
    expect((await owner.changes(ws, 0)).snapshot!.some((r) => r.path.includes('\ufffd'))).toBe(
      false,
    );
  });
});

/**
 * What a hostile or careless request cannot do: paths that escape the workspace are refused
 * with 400, and links synced from another device never make an agent write outside DIR.
 */
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, HubClient } from '../../src/agent/hub-client.js';
import { startHub, stopAll, tandem, tempDir, type Hub, twoDevices } from '../helpers/processes.js';

describe('the hub and agents refuse to leave the workspace', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let token: string;
  let workspaceId: string;

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'erin', 'safe'));
    token = JSON.parse(await readFile(join(homeA, 'config.json'), 'utf8')).token;
    workspaceId = (await new HubClient(new HttpTransport(hub.url), token).listWorkspaces())[0]!.id;
  });
  afterAll(stopAll);

  const commit = (ops: unknown[]) =>
    fetch(`${hub.url}/api/v1/workspaces/${workspaceId}/commit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ops }),
    });

  for (const path of ['../x', 'a/../../x', '/etc/passwd', 'a\u0000b', 'x'.repeat(300)]) {
    it(`rejects the path ${JSON.stringify(path.slice(0, 20))} with 400 and a clear error`, async () => {
      const response = await commit([{ op: 'put', path, base: 0, entry: { kind: 'dir' } }]);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('INVALID_PATH');
      expect(body.error.message).toMatch(/path/);
    });
  }

  it('rejects a move out of the workspace with 400', async () => {
    const response = await commit([{ op: 'move', from: 'a', to: '../a', base: 1 }]);
    expect(response.status).toBe(400);
  });

  it('rejects malformed requests with 400, not 500', async () => {
    const response = await commit([{ op: 'explode', path: 'a' }]);
    expect(response.status).toBe(400);
    const unauthenticated = await fetch(`${hub.url}/api/v1/workspaces`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(unauthenticated.status).toBe(401);
  });

  it('never writes outside DIR through a symlink synced from another device', async () => {
    const root = await tempDir();
    const outside = join(root, 'outside');
    await mkdir(outside);
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    await mkdir(join(dirA, 'd'), { recursive: true });
    await writeFile(join(dirA, 'd/keep.txt'), 'kept');
    await symlink(outside, join(dirA, 'escape')); // absolute link to a folder outside DIR
    await symlink('../outside', join(dirA, 'escape-relative'));
    expect(
      (await tandem(['sync', dirA, '--workspace', 'safe', '--once'], { home: homeA })).code,
    ).toBe(0);
    expect(
      (await tandem(['sync', dirB, '--workspace', 'safe', '--once'], { home: homeB })).code,
    ).toBe(0);
    expect(await readlink(join(dirB, 'escape'))).toBe(outside);
    expect((await lstat(join(dirB, 'escape'))).isSymbolicLink()).toBe(true);

    // A hostile commit of a file "inside" the link is refused by the hub...
    const response = await commit([
      { op: 'put', path: 'escape/evil.txt', base: 0, entry: { kind: 'dir' } },
    ]);
    const body = (await response.json()) as { results: { ok: boolean; reason?: string }[] };
    expect(body.results[0]).toMatchObject({ ok: false, reason: 'parent-not-dir' });

    // ...and an agent whose folder was swapped for a link does not follow it either.
    await rm(join(dirB, 'd'), { recursive: true });
    await symlink(outside, join(dirB, 'd'));
    await writeFile(join(dirA, 'd/new.txt'), 'should never land outside');
    expect((await tandem(['sync', dirA, '--once'], { home: homeA })).code).toBe(0);
    await tandem(['sync', dirB, '--once'], { home: homeB });
    await tandem(['sync', dirA, '--once'], { home: homeA });
    await tandem(['sync', dirB, '--once'], { home: homeB });
    expect(await readdir(outside)).toEqual([]);
    // Nothing was lost either: A's files are still on the hub and on A.
    expect(await readFile(join(dirA, 'd/new.txt'), 'utf8')).toBe('should never land outside');
  });
});

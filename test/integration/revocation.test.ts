/**
 * Revocation is immediate: a running agent whose device is revoked, or whose user loses
 * access to the workspace, stops within seconds with the reason, and receives nothing more.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  account,
  background,
  startHub,
  stopAll,
  tandem,
  tempDir,
  twoDevices,
  waitFor,
  type Hub,
} from '../helpers/processes.js';

const tokenOf = async (home: string) =>
  JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as {
    token: string;
    deviceId: string;
  };

describe('revocation reaches running agents at once', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(stopAll);

  const api = (home: string, method: string, path: string, body?: unknown) =>
    tokenOf(home).then(({ token }) =>
      fetch(`${hub.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }),
    );

  it('stops the agent of a revoked device with that reason, and it receives nothing more', async () => {
    const { homeA, homeB } = await twoDevices(hub, 'rita', 'revoked');
    const dirA = join(await tempDir(), 'A');
    const dirB = join(await tempDir(), 'B');
    await tandem(['sync', dirA, '--workspace', 'revoked', '--once'], { home: homeA });
    const agentB = background(['sync', dirB, '--workspace', 'revoked'], { home: homeB });
    await writeFile(join(dirA, 'before.txt'), 'seen by B');
    await tandem(['sync', dirA, '--once'], { home: homeA });
    await waitFor(() => readFile(join(dirB, 'before.txt'), 'utf8').catch(() => false), {
      what: () => `B to receive before.txt (${agentB.output()})`,
    });

    // As a person does it: from the other device, by the device's name.
    const revokedAt = Date.now();
    const revoke = await tandem(['device', 'revoke', 'b'], { home: homeA });
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toMatch(/revoked device "b"/);
    const code = await agentB.exited;
    expect(Date.now() - revokedAt).toBeLessThan(2_000);
    expect(code).not.toBe(0);
    expect(agentB.output()).toMatch(/this device was revoked on the hub/i);

    await writeFile(join(dirA, 'after.txt'), 'never for B');
    await tandem(['sync', dirA, '--once'], { home: homeA });
    const again = await tandem(['sync', dirB, '--once'], { home: homeB });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^tandem: this device was revoked on the hub/im);
    await expect(readFile(join(dirB, 'after.txt'))).rejects.toThrow();
  });

  it('stops the agent of a user removed from the workspace, and keeps their folder as it was', async () => {
    const owner = await account(hub.url, 'olga', { register: true, device: 'o' });
    const member = await account(hub.url, 'max', { register: true, device: 'm' });
    expect((await tandem(['workspace', 'create', 'team'], { home: owner })).code).toBe(0);
    const share = await tandem(
      ['workspace', 'share', 'team', '--user', 'max', '--role', 'editor'],
      {
        home: owner,
      },
    );
    expect(share.code, share.stderr).toBe(0);
    const dirO = join(await tempDir(), 'O');
    const dirM = join(await tempDir(), 'M');
    await tandem(['sync', dirO, '--workspace', 'team', '--once'], { home: owner });
    const agentM = background(['sync', dirM, '--workspace', 'team'], { home: member });
    await writeFile(join(dirO, 'shared.txt'), 'for the team');
    await tandem(['sync', dirO, '--once'], { home: owner });
    await waitFor(() => readFile(join(dirM, 'shared.txt'), 'utf8').catch(() => false), {
      what: () => `the member to receive shared.txt (${agentM.output()})`,
    });

    const list = (await (await api(owner, 'GET', '/workspaces')).json()) as {
      workspaces: { id: string; name: string }[];
    };
    const team = list.workspaces.find((w) => w.name === 'team')!;
    const removedAt = Date.now();
    expect((await api(owner, 'DELETE', `/workspaces/${team.id}/members/max`)).status).toBe(204);
    expect(await agentM.exited).not.toBe(0);
    expect(Date.now() - removedAt).toBeLessThan(2_000);
    expect(agentM.output()).toMatch(/no longer have access to workspace/);
    // The folder keeps what it had: losing access deletes nothing locally.
    expect(await readFile(join(dirM, 'shared.txt'), 'utf8')).toBe('for the team');
  });
});

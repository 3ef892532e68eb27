/**
 * Accounts and devices as a person uses them, through the real CLI and a real hub: whoami,
 * password change, the device list (last seen, address, release, this device marked),
 * revoking a device by name, and logout with the hub up and down.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TANDEM_VERSION } from '../../src/protocol/api.js';
import {
  account,
  startHub,
  stopAll,
  tandem,
  type CliResult,
  type Hub,
} from '../helpers/processes.js';

const PASSWORD = 'a password long enough';

const jsonOf = <T>(result: CliResult): T => {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`no JSON document on stdout: ${result.stdout}\n${result.stderr}`);
  }
};

interface ListedDevice {
  id: string;
  name: string;
  current: boolean;
  revoked: boolean;
  lastSeenAt: string | null;
  address: string | null;
  version: string | null;
}

describe('accounts and devices from the command line', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(stopAll);

  it('whoami says the user, this device, the hub and the storage used', async () => {
    const home = await account(hub.url, 'wanda', {
      register: true,
      device: 'laptop',
      password: PASSWORD,
    });
    const json = await tandem(['whoami', '--json'], { home });
    expect(json.code, json.stderr).toBe(0);
    expect(jsonOf(json)).toMatchObject({
      server: hub.url,
      user: { name: 'wanda' },
      device: { name: 'laptop' },
      storage: { used: 0, quota: null },
    });
    const text = await tandem(['whoami'], { home });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/user\s+wanda/);
    expect(text.stdout).toMatch(/device\s+laptop/);
    expect(text.stdout).toContain(hub.url);
    expect(text.stdout).toMatch(/storage\s+0 B of no quota/);
  });

  it('password change needs the current password, and the new one then signs in', async () => {
    const home = await account(hub.url, 'pat', {
      register: true,
      device: 'p1',
      password: PASSWORD,
    });
    const wrong = await tandem(['password', 'change', '--password-stdin', '--json'], {
      home,
      input: `not the password\nthe new password of pat\n`,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^tandem: wrong user name or password\n$/i);
    expect(jsonOf(wrong)).toMatchObject({ error: { code: 'WRONG_PASSWORD' } });
    const changed = await tandem(['password', 'change', '--password-stdin'], {
      home,
      input: `${PASSWORD}\nthe new password of pat\n`,
    });
    expect(changed.code, changed.stderr).toBe(0);
    // The device that changed it stays signed in; the old password no longer works.
    expect((await tandem(['whoami'], { home })).code).toBe(0);
    await expect(
      account(hub.url, 'pat', { register: false, device: 'p2', password: PASSWORD }),
    ).rejects.toThrow(/wrong user name or password/i);
    await account(hub.url, 'pat', {
      register: false,
      device: 'p2',
      password: 'the new password of pat',
    });
  });

  it('device list marks this device and shows last seen, address and release; revoke ends one by name', async () => {
    const homeA = await account(hub.url, 'dora', {
      register: true,
      device: 'desk',
      password: PASSWORD,
    });
    const homeB = await account(hub.url, 'dora', {
      register: false,
      device: 'phone',
      password: PASSWORD,
    });
    const listed = await tandem(['device', 'list', '--json'], { home: homeA });
    expect(listed.code, listed.stderr).toBe(0);
    const { devices } = jsonOf<{ devices: ListedDevice[] }>(listed);
    expect(devices.map((d) => [d.name, d.current])).toEqual([
      ['desk', true],
      ['phone', false],
    ]);
    for (const d of devices) {
      expect(d.address).toBe('127.0.0.1');
      expect(d.version).toBe(TANDEM_VERSION);
      expect(Date.now() - Date.parse(d.lastSeenAt!)).toBeLessThan(60_000);
    }
    const text = await tandem(['device', 'list'], { home: homeB });
    expect(text.stdout).toMatch(/^\*\s+phone\s/m);
    expect(text.stdout).toMatch(/^\s+desk\s.*just now\s+127\.0\.0\.1\s+0\.1\.0\s+active/m);

    const self = await tandem(['device', 'revoke', 'desk'], { home: homeA });
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/this device: run `tandem logout`/);
    const unknown = await tandem(['device', 'revoke', 'tablet', '--json'], { home: homeA });
    expect(unknown.code).toBe(1);
    expect(jsonOf(unknown)).toMatchObject({
      error: { message: expect.stringMatching(/desk, phone/) },
    });

    const revoked = await tandem(['device', 'revoke', 'phone', '--json'], { home: homeA });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(jsonOf(revoked)).toMatchObject({ revoked: { name: 'phone' } });
    const after = await tandem(['whoami'], { home: homeB });
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^tandem: this device was revoked on the hub/im);
    const again = jsonOf<{ devices: ListedDevice[] }>(
      await tandem(['device', 'list', '--json'], { home: homeA }),
    );
    expect(again.devices.find((d) => d.name === 'phone')).toMatchObject({ revoked: true });
  });

  it('logout revokes the token on the hub and forgets it locally, keeping the settings', async () => {
    const home = await account(hub.url, 'lou', {
      register: true,
      device: 'l1',
      password: PASSWORD,
    });
    const configFile = join(home, 'config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { token: string };
    await writeFile(configFile, JSON.stringify({ ...config, maxDeletions: 900 }));
    const out = await tandem(['logout'], { home });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/signed out of .*token is revoked on the hub and removed from/);
    const kept = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
    expect(kept).toEqual({ maxDeletions: 900 });
    // The token is dead on the hub, not only forgotten here.
    const me = await fetch(`${hub.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${config.token}` },
    });
    expect(me.status).toBe(401);
    expect(((await me.json()) as { error: { code: string } }).error.code).toBe('DEVICE_REVOKED');
    const whoami = await tandem(['whoami'], { home });
    expect(whoami.code).toBe(1);
    expect(whoami.stderr).toMatch(/not signed in/);
    // Signing in again keeps the settings.
    await tandem(['login', '--server', hub.url, '--user', 'lou', '--password-stdin'], {
      home,
      input: `${PASSWORD}\n`,
    });
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toMatchObject({ maxDeletions: 900 });
  });

  it('logout with the hub unreachable forgets locally and says how to revoke from elsewhere', async () => {
    const other = await startHub();
    const home = await account(other.url, 'una', {
      register: true,
      device: 'u1',
      password: PASSWORD,
    });
    const { deviceId } = JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as {
      deviceId: string;
    };
    await other.stop();
    const out = await tandem(['logout', '--json'], { home });
    expect(out.code).toBe(1);
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(
      new RegExp(
        `^tandem: forgot this device's credentials .* could not revoke its token .*tandem device revoke ${deviceId}`,
      ),
    );
    expect(jsonOf(out)).toMatchObject({
      revoked: false,
      forgotten: true,
      device: { id: deviceId },
    });
    await expect(access(join(home, 'config.json'))).rejects.toThrow();
  });
});

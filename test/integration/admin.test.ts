/**
 * Administration (issue 20): the administrator lists users with their usage, and disables and
 * enables accounts. Disabling stops every agent of the user at once and keeps their data;
 * enabling gives the same tokens back.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  account,
  background,
  hubStats,
  sha256File,
  startHub,
  stopAll,
  tandem,
  tempDir,
  twoDevices,
  waitFor,
  type Hub,
} from '../helpers/processes.js';
import { pseudoRandomBytes } from '../helpers/bytes.js';

interface ListedUser {
  name: string;
  admin: boolean;
  disabled: boolean;
  devices: number;
  storage: { used: number; quota: number | null };
}

describe('tandem admin users, disable and enable', () => {
  let hub: Hub;
  let root: string;
  beforeAll(async () => {
    hub = await startHub();
    // The first user of a hub is its administrator.
    root = await account(hub.url, 'root', { register: true, device: 'console' });
  });
  afterAll(stopAll);

  const users = async (): Promise<ListedUser[]> => {
    const listed = await tandem(['admin', 'users', '--json'], { home: root });
    expect(listed.code, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as { users: ListedUser[] }).users;
  };

  it('stops every agent of a disabled user at once, keeps their data, and enabling restores the same tokens', async () => {
    const { homeA, homeB } = await twoDevices(hub, 'dora', 'kept');
    const dirA = join(await tempDir(), 'A');
    const dirB = join(await tempDir(), 'B');
    await tandem(['sync', dirA, '--workspace', 'kept', '--once'], { home: homeA });
    await writeFile(join(dirA, 'kept.txt'), 'twelve bytes');
    expect((await tandem(['sync', dirA, '--once'], { home: homeA })).code).toBe(0);
    const agentA = background(['sync', dirA], { home: homeA });
    const agentB = background(['sync', dirB, '--workspace', 'kept'], { home: homeB });
    await waitFor(() => readFile(join(dirB, 'kept.txt'), 'utf8').catch(() => false), {
      what: () => `B to receive kept.txt (${agentB.output()})`,
    });

    const dora = (await users()).find((u) => u.name === 'dora');
    expect(dora).toEqual({
      id: expect.any(String),
      name: 'dora',
      admin: false,
      disabled: false,
      devices: 2,
      storage: { used: 12, quota: null },
    });
    expect((await users()).find((u) => u.name === 'root')?.admin).toBe(true);

    const disabledAt = Date.now();
    const disable = await tandem(['admin', 'disable', 'dora'], { home: root });
    expect(disable.code, disable.stderr).toBe(0);
    expect(disable.stderr).toMatch(/disabled dora/);
    const [codeA, codeB] = await Promise.all([agentA.exited, agentB.exited]);
    expect(Date.now() - disabledAt).toBeLessThan(2_000);
    expect(codeA).not.toBe(0);
    expect(codeB).not.toBe(0);
    expect(agentA.output()).toMatch(/disabled by an administrator/);
    expect(agentB.output()).toMatch(/disabled by an administrator/);

    // Every way in is closed: the token, a new sign-in, a one-shot sync.
    const whoami = await tandem(['whoami', '--json'], { home: homeA });
    expect(whoami.code).not.toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ error: { code: 'ACCOUNT_DISABLED' } });
    const again = await tandem(['sync', dirB, '--once'], { home: homeB });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^tandem: this account was disabled by an administrator/im);
    await expect(account(hub.url, 'dora', { register: false, device: 'c' })).rejects.toThrow(
      /disabled by an administrator/,
    );
    // Wrong passwords learn nothing about the account's state.
    const guess = await tandem(
      ['login', '--server', hub.url, '--user', 'dora', '--password-stdin'],
      { home: await tempDir(), input: 'not the password at all\n' },
    );
    expect(guess.stderr).not.toMatch(/disabled/);
    expect((await users()).find((u) => u.name === 'dora')).toMatchObject({
      disabled: true,
      devices: 2,
      storage: { used: 12 },
    });

    const enable = await tandem(['admin', 'enable', 'dora'], { home: root });
    expect(enable.code, enable.stderr).toBe(0);
    await writeFile(join(dirA, 'after.txt'), 'back again');
    const resumed = await tandem(['sync', dirA, '--once'], { home: homeA });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await tandem(['sync', dirB, '--once'], { home: homeB })).code).toBe(0);
    expect(await readFile(join(dirB, 'kept.txt'), 'utf8')).toBe('twelve bytes');
    expect(await readFile(join(dirB, 'after.txt'), 'utf8')).toBe('back again');
  });

  it('refuses the administration commands to anyone but an administrator, and names unknown users', async () => {
    const eve = await account(hub.url, 'eve', { register: true, device: 'e' });
    for (const args of [['users'], ['disable', 'root'], ['enable', 'eve']]) {
      const refused = await tandem(['admin', ...args, '--json'], { home: eve });
      expect(refused.code).not.toBe(0);
      expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ADMIN_ONLY' } });
    }
    const unknown = await tandem(['admin', 'disable', 'nobody'], { home: root });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^tandem: User nobody not found/m);
    const self = await tandem(['admin', 'disable', 'root'], { home: root });
    expect(self.code).not.toBe(0);
    expect(self.stderr).toMatch(/cannot disable their own account/);
  });

  it('resets a password to a new random one, printed once: the old one stops working, devices stay signed in', async () => {
    const home = await account(hub.url, 'paul', { register: true, device: 'p' });
    const reset = await tandem(['admin', 'reset-password', 'paul'], { home: root });
    expect(reset.code, reset.stderr).toBe(0);
    const password = reset.stdout.trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(reset.stderr).toMatch(/tandem password change/);
    expect(reset.stderr).not.toContain(password);
    await expect(account(hub.url, 'paul', { register: false, device: 'old' })).rejects.toThrow(
      /wrong user name or password/i,
    );
    await account(hub.url, 'paul', { register: false, device: 'new', password });
    expect((await tandem(['whoami'], { home })).code).toBe(0);
    const json = await tandem(['admin', 'reset-password', 'paul', '--json'], { home: root });
    const again = JSON.parse(json.stdout) as { user: string; password: string };
    expect(again.user).toBe('paul');
    expect(again.password).not.toBe(password);
    const refused = await tandem(['admin', 'reset-password', 'root', '--json'], { home });
    expect(refused.code).not.toBe(0);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ADMIN_ONLY' } });
  });

  it('refuses an upload once the owner is at their quota, before any chunk, keeps what is stored, and syncs again once space is freed', async () => {
    const home = await account(hub.url, 'quinn', { register: true, device: 'q' });
    expect((await tandem(['workspace', 'create', 'full'], { home })).code).toBe(0);
    const dir = join(await tempDir(), 'Q');
    await tandem(['sync', dir, '--workspace', 'full', '--once'], { home });
    const set = await tandem(['admin', 'quota', 'quinn', '20B'], { home: root });
    expect(set.code, set.stderr).toBe(0);
    await writeFile(join(dir, 'first.txt'), 'twenty bytes exactly');
    const first = await tandem(['sync', dir, '--once'], { home });
    expect(first.code, first.stderr).toBe(0);
    const who = await tandem(['whoami', '--json'], { home });
    expect(JSON.parse(who.stdout)).toMatchObject({ storage: { used: 20, quota: 20 } });
    expect((await tandem(['whoami'], { home })).stdout).toMatch(/20 B of 20 B/);

    await writeFile(join(dir, 'second.txt'), 'one too many');
    const refused = await tandem(['sync', dir, '--once'], { home });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/workspace "full" is at its owner's quota of 20 B/i);
    const status = await tandem(['status', dir, '--json'], { home });
    expect(status.code).not.toBe(0);
    const report = JSON.parse(status.stdout) as { problems: { path: string; message: string }[] };
    expect(report.problems).toEqual([
      expect.objectContaining({ path: 'second.txt', message: expect.stringMatching(/quota/) }),
    ]);
    // Nothing already stored is lost.
    const other = await account(hub.url, 'quinn', { register: false, device: 'r' });
    const copy = join(await tempDir(), 'R');
    await tandem(['sync', copy, '--workspace', 'full', '--once'], { home: other });
    expect(await readFile(join(copy, 'first.txt'), 'utf8')).toBe('twenty bytes exactly');
    await expect(readFile(join(copy, 'second.txt'))).rejects.toThrow();

    // Space freed: the deletion goes up even while the upload waits, and then the upload.
    await rm(join(dir, 'first.txt'));
    await tandem(['sync', dir, '--once'], { home });
    const freed = await tandem(['sync', dir, '--once'], { home });
    expect(freed.code, freed.stderr).toBe(0);
    await tandem(['sync', copy, '--once'], { home: other });
    expect(await readFile(join(copy, 'second.txt'), 'utf8')).toBe('one too many');

    const listed = (await users()).find((u) => u.name === 'quinn');
    expect(listed?.storage).toEqual({ used: 12, quota: 20 });
    // The default applies to users without a quota of their own; none lifts it.
    expect((await tandem(['admin', 'quota', '--default', '1GiB'], { home: root })).code).toBe(0);
    expect((await users()).find((u) => u.name === 'root')?.storage.quota).toBe(2 ** 30);
    expect((await tandem(['admin', 'quota', 'quinn', 'none'], { home: root })).code).toBe(0);
    expect((await users()).find((u) => u.name === 'quinn')?.storage.quota).toBeNull();
    expect((await tandem(['admin', 'quota', '--default', 'none'], { home: root })).code).toBe(0);
    const bad = await tandem(['admin', 'quota', 'quinn', 'lots'], { home: root });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^tandem: not a size: lots/m);
  });

  it('refuses files that would take the owner past their quota before any of their chunks is sent, small or streamed while hashed', async () => {
    const home = await account(hub.url, 'wendy', { register: true, device: 'w' });
    expect((await tandem(['workspace', 'create', 'roomy'], { home })).code).toBe(0);
    const dir = join(await tempDir(), 'W');
    await tandem(['sync', dir, '--workspace', 'roomy', '--once'], { home });
    expect((await tandem(['admin', 'quota', 'wendy', '10MiB'], { home: root })).code).toBe(0);
    const MiB = 1024 * 1024;
    await writeFile(join(dir, 'fits.bin'), pseudoRandomBytes(2 * MiB, 1));
    const fits = await tandem(['sync', dir, '--once'], { home });
    expect(fits.code, fits.stderr).toBe(0);

    // 9 MiB more would make 11 of 10: refused whole, though 8 MiB are left.
    const before = await hubStats(hub.url, root);
    await writeFile(join(dir, 'small-but-too-much.bin'), pseudoRandomBytes(9 * MiB, 2));
    const refused = await tandem(['sync', dir, '--once'], { home });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /workspace "roomy" has 8 MiB left of its owner's quota of 10 MiB, and the files waiting to go up need 9 MiB/i,
    );
    // A file as large as 12 MiB has its chunks sent while it is hashed: refused as early.
    await rm(join(dir, 'small-but-too-much.bin'));
    await writeFile(join(dir, 'large.bin'), pseudoRandomBytes(12 * MiB, 3));
    const large = await tandem(['sync', dir, '--once'], { home });
    expect(large.code).not.toBe(0);
    expect(large.stderr).toMatch(/need 12 MiB/);
    expect((await hubStats(hub.url, root)).chunkBytesIn).toBe(before.chunkBytesIn);
    const status = await tandem(['status', dir, '--json'], { home });
    const report = JSON.parse(status.stdout) as { problems: { path: string; message: string }[] };
    expect(report.problems).toEqual([
      expect.objectContaining({ path: 'large.bin', message: expect.stringMatching(/quota/) }),
    ]);

    // More room: the same file goes up, and what was stored is still there.
    expect((await tandem(['admin', 'quota', 'wendy', '20MiB'], { home: root })).code).toBe(0);
    const raised = await tandem(['sync', dir, '--once'], { home });
    expect(raised.code, raised.stderr).toBe(0);
    const copy = join(await tempDir(), 'W2');
    const other = await account(hub.url, 'wendy', { register: false, device: 'w2' });
    expect(
      (await tandem(['sync', copy, '--workspace', 'roomy', '--once'], { home: other })).code,
    ).toBe(0);
    const sent = createHash('sha256')
      .update(pseudoRandomBytes(12 * MiB, 3))
      .digest('hex');
    expect(await sha256File(join(copy, 'large.bin'))).toBe(sent);
    expect((await readFile(join(copy, 'fits.bin'))).length).toBe(2 * MiB);
  });
});

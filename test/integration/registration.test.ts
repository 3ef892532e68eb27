/**
 * Who may create an account, with `tandem server --registration`: the first user always (and
 * becomes the administrator); then nobody on a closed hub, and on an invite hub only whoever
 * brings a one-time code from `tandem admin invite`, once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { account, startHub, stopAll, tandem, tempDir } from '../helpers/processes.js';

const PASSWORD = 'a password long enough';

async function register(hub: string, user: string, extra: readonly string[] = []) {
  return tandem(
    ['register', '--server', hub, '--user', user, '--password-stdin', '--json', ...extra],
    { home: await tempDir('tandem-home-'), input: `${PASSWORD}\n` },
  );
}

const errorCode = (stdout: string) =>
  (JSON.parse(stdout) as { error?: { code: string } }).error?.code;

describe('registration modes', () => {
  afterAll(stopAll);

  it('closed: the first user registers and is the administrator, nobody after', async () => {
    const hub = await startHub({ args: ['--registration', 'closed'] });
    const first = await account(hub.url, 'founder', {
      register: true,
      device: 'f',
      password: PASSWORD,
    });
    const me = await tandem(['whoami', '--json'], { home: first });
    expect(JSON.parse(me.stdout)).toMatchObject({ user: { name: 'founder', admin: true } });
    const second = await register(hub.url, 'latecomer');
    expect(second.code).toBe(1);
    expect(errorCode(second.stdout)).toBe('REGISTRATION_CLOSED');
    expect(second.stderr).toMatch(/^tandem: this hub does not take new accounts/im);
  });

  it('invite: a code from `tandem admin invite` lets one person register, once', async () => {
    const hub = await startHub({ args: ['--registration', 'invite'] });
    const admin = await account(hub.url, 'boss', {
      register: true,
      device: 'b',
      password: PASSWORD,
    });
    const without = await register(hub.url, 'guest');
    expect(errorCode(without.stdout)).toBe('INVITE_REQUIRED');
    expect(without.stderr).toMatch(/--invite CODE/);
    const bogus = await register(hub.url, 'guest', ['--invite', 'tdi_not-a-real-code']);
    expect(errorCode(bogus.stdout)).toBe('INVITE_INVALID');
    // A made-up code does not learn which names are taken either.
    const probe = await register(hub.url, 'boss', ['--invite', 'tdi_not-a-real-code']);
    expect(errorCode(probe.stdout)).toBe('INVITE_INVALID');

    const made = await tandem(['admin', 'invite', '--json'], { home: admin });
    expect(made.code, made.stderr).toBe(0);
    const { code } = JSON.parse(made.stdout) as { code: string };
    // A failed registration (a taken name) leaves the code unused.
    expect(errorCode((await register(hub.url, 'boss', ['--invite', code])).stdout)).toBe(
      'USER_EXISTS',
    );
    const guest = await register(hub.url, 'guest', ['--invite', code]);
    expect(guest.code, guest.stderr).toBe(0);
    expect(JSON.parse(guest.stdout)).toMatchObject({ user: { name: 'guest' } });
    const reused = await register(hub.url, 'another', ['--invite', code]);
    expect(errorCode(reused.stdout)).toBe('INVITE_INVALID');

    // Only an administrator makes codes.
    const guestHome = await account(hub.url, 'guest', {
      register: false,
      device: 'g',
      password: PASSWORD,
    });
    const refused = await tandem(['admin', 'invite'], { home: guestHome });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tandem: only an administrator/im);
  });

  it('refuses an unknown mode', async () => {
    const result = await tandem(['server', '--registration', 'maybe', '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tandem: --registration must be open, closed, invite/);
  });
});

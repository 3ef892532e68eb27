import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { versionOf } from '../../src/server/services/accounts.js';
import { startSimHub, type SimHub } from '../helpers/sim.js';

describe("a device's last request", () => {
  let now = 1_800_000_000_000;
  let hub: SimHub;
  let token: string;
  let deviceId: string;
  beforeAll(async () => {
    hub = await startSimHub(() => now);
    const response = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'user-agent': 'tandem/0.1.0' },
      payload: { user: 'seen', password: 'long enough password', deviceName: 'd' },
    });
    ({ token } = response.json<{ token: string }>());
    deviceId = response.json<{ device: { id: string } }>().device.id;
  });
  afterAll(async () => hub.close());

  const call = (agent: string, remoteAddress = '10.1.2.3') =>
    hub.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      remoteAddress,
      headers: { authorization: `Bearer ${token}`, 'user-agent': agent },
    });
  const row = () =>
    hub.app.hub.db
      .selectFrom('devices')
      .select(['last_seen_at', 'last_address', 'agent_version'])
      .where('id', '=', deviceId)
      .executeTakeFirstOrThrow();

  it('is written at most once a minute, unless the address or the release changes', async () => {
    const registeredAt = now;
    expect(await row()).toMatchObject({ last_seen_at: registeredAt, agent_version: '0.1.0' });
    now += 1000;
    await call('tandem/0.1.0');
    // Another address: written at once.
    expect(await row()).toMatchObject({ last_seen_at: now, last_address: '10.1.2.3' });
    const seenAt = now;
    for (let i = 0; i < 5; i++) {
      now += 10_000;
      expect((await call('tandem/0.1.0')).statusCode).toBe(200);
    }
    expect(Number((await row()).last_seen_at)).toBe(seenAt);
    now += 10_001;
    await call('tandem/0.1.0');
    expect(Number((await row()).last_seen_at)).toBe(now);
    now += 1000;
    await call('tandem/0.2.0 (linux)');
    expect(await row()).toMatchObject({ last_seen_at: now, agent_version: '0.2.0' });
    // A caller that names no release keeps the one known.
    now += 60_000;
    await call('curl/8.0');
    expect(await row()).toMatchObject({ last_seen_at: now, agent_version: '0.2.0' });
  });

  it('reads the release from a tandem user-agent only', () => {
    expect(versionOf('tandem/0.1.0')).toBe('0.1.0');
    expect(versionOf('tandem/1.2.3-rc.1 (darwin)')).toBe('1.2.3-rc.1');
    expect(versionOf('Mozilla/5.0 tandem/0.1.0')).toBeUndefined();
    expect(versionOf('tandem/<script>')).toBeUndefined();
    expect(versionOf(undefined)).toBeUndefined();
  });
});

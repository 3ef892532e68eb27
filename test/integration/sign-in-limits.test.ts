/**
 * Brute force against a real `tandem server`, over real HTTP from several loopback addresses
 * (127.0.0.2, .3, ...: all of 127/8 is this machine): wrong passwords are refused with 429
 * and Retry-After past the limit, only at the guesser's address, so the real user still signs
 * in from another; correct sign-ins never count; the counters live in the hub's database,
 * so a restart does not reset them.
 */
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, startHub, stopAll, type Hub } from '../helpers/processes.js';

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { error?: { code: string; message: string }; token?: string };
}

/** POST /api/v1/auth/login from `from`, on a connection of its own. */
function login(hub: string, from: string, user: string, password: string): Promise<Answer> {
  const url = new URL(hub);
  const body = JSON.stringify({ user, password, deviceName: `from-${from}` });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        localAddress: from,
        method: 'POST',
        path: '/api/v1/auth/login',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            retryAfter: response.headers['retry-after'],
            body: JSON.parse(Buffer.concat(parts).toString('utf8')) as Answer['body'],
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const PASSWORD = 'the real password of a real user';

describe('sign-in limits against brute force', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(stopAll);

  it('answers 20 wrong passwords in a row with 429s, and the right one still works from another address', async () => {
    await account(hub.url, 'target', { register: true, device: 'home', password: PASSWORD });
    const answers: Answer[] = [];
    for (let i = 0; i < 20; i++)
      answers.push(await login(hub.url, '127.0.0.2', 'target', `guess number ${i} of many`));
    const statuses = answers.map((a) => a.status);
    expect(statuses.slice(0, 10)).toEqual(Array<number>(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array<number>(10).fill(429));
    for (const refused of answers.slice(10)) {
      expect(refused.body.error?.code).toBe('RATE_LIMITED');
      const wait = Number(refused.retryAfter);
      expect(wait, `Retry-After: ${refused.retryAfter}`).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(15 * 60);
    }
    expect(answers[10]!.body.error?.message).toMatch(/try again in \d+ minutes/);

    // The guesser's address stays refused, even with the right password...
    expect((await login(hub.url, '127.0.0.2', 'target', PASSWORD)).status).toBe(429);
    // ...but the real user, elsewhere, is not locked out.
    const real = await login(hub.url, '127.0.0.3', 'target', PASSWORD);
    expect(real.status, JSON.stringify(real.body)).toBe(200);
    expect(real.body.token).toMatch(/^tdm_/);
    // Nor is the guesser's address for other accounts (10 failures are far from its limit).
    await account(hub.url, 'neighbour', { register: true, device: 'n', password: PASSWORD });
    expect((await login(hub.url, '127.0.0.2', 'neighbour', PASSWORD)).status).toBe(200);

    // The counters are in the hub's database: a restarted hub still refuses the guesser.
    await hub.stop();
    hub = await startHub({ dataDir: hub.dataDir });
    const after = await login(hub.url, '127.0.0.2', 'target', 'one more guess after restart');
    expect(after.status).toBe(429);
    expect(after.body.error?.code).toBe('RATE_LIMITED');
    expect((await login(hub.url, '127.0.0.3', 'target', PASSWORD)).status).toBe(200);
  });

  it('never counts correct sign-ins: 30 from one address all succeed (an office behind one NAT)', async () => {
    // Regression: every attempt counted, so the 21st correct login from one address in a
    // minute was refused.
    await account(hub.url, 'office', { register: true, device: 'desk', password: PASSWORD });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push((await login(hub.url, '127.0.0.4', 'office', PASSWORD)).status);
    expect(statuses).toEqual(Array<number>(30).fill(200));
    // Failures next to them count from zero: nine wrong ones, then the right one, pass.
    for (let i = 0; i < 9; i++)
      expect((await login(hub.url, '127.0.0.4', 'office', `typo ${i} in it`)).status).toBe(401);
    expect((await login(hub.url, '127.0.0.4', 'office', PASSWORD)).status).toBe(200);
  });
});

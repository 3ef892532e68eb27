import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TandemError } from '../../src/protocol/errors.js';
import type { HubContext } from '../../src/server/context.js';
import { openDatabase } from '../../src/server/db/open.js';
import {
  addressKey,
  limitSignIn,
  SignInLimitedError,
  type SignInLimits,
} from '../../src/server/services/sign-in-limits.js';

const LIMITS: SignInLimits = { perAccountAddress: 3, perAddress: 5, windowMs: 60_000 };
const wrong = () => Promise.reject(TandemError.of('WRONG_PASSWORD'));
const right = () => Promise.resolve('in');

describe('sign-in limits', () => {
  let dir: string;
  let now = 1_000_000;
  let hubs: { ctx: HubContext; close: () => Promise<void> }[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-limits-'));
    // Two hubs on one database file: the counters are the database's, not a process's.
    hubs = await Promise.all(
      [0, 1].map(async () => {
        const { db } = await openDatabase({ kind: 'sqlite', file: join(dir, 'tandem.db') });
        return { ctx: { db, now: () => now } as unknown as HubContext, close: () => db.destroy() };
      }),
    );
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  const attempt = (hub: number, user: string, address: string, run: () => Promise<string>) =>
    limitSignIn(hubs[hub]!.ctx, LIMITS, { user, address }, run).then(
      (value) => value,
      (error: unknown) => (error instanceof TandemError ? error.code : String(error)),
    );

  it('counts failures across hubs per account and address, and only failures', async () => {
    for (let i = 0; i < 10; i++) expect(await attempt(i % 2, 'ann', '10.0.0.1', right)).toBe('in');
    expect(await attempt(0, 'ann', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
    expect(await attempt(1, 'ann', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
    expect(await attempt(0, 'ANN', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
    // The account is refused at that address, on either hub, even with the right password...
    expect(await attempt(1, 'ann', '10.0.0.1', right)).toBe('RATE_LIMITED');
    expect(await attempt(0, 'ann', '10.0.0.1', right)).toBe('RATE_LIMITED');
    // ...and nowhere else.
    expect(await attempt(1, 'ann', '10.0.0.2', right)).toBe('in');
    // A refused attempt did not count towards the address's limit (3 of 5 used).
    expect(await attempt(0, 'bob', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
    expect(await attempt(0, 'cat', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
    // 5 failures from 10.0.0.1: now every account is refused there.
    expect(await attempt(1, 'dan', '10.0.0.1', right)).toBe('RATE_LIMITED');
    // The window ends: all is allowed again.
    now += LIMITS.windowMs;
    expect(await attempt(0, 'ann', '10.0.0.1', right)).toBe('in');
    expect(await attempt(1, 'dan', '10.0.0.1', wrong)).toBe('WRONG_PASSWORD');
  });

  it('says how long to wait', async () => {
    for (let i = 0; i < 3; i++) await attempt(0, 'eve', '10.0.0.9', wrong);
    now += 20_000;
    const error = await limitSignIn(
      hubs[0]!.ctx,
      LIMITS,
      { user: 'eve', address: '10.0.0.9' },
      right,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignInLimitedError);
    expect((error as SignInLimitedError).retryAfterSeconds).toBe(40);
    expect((error as SignInLimitedError).message).toMatch(/try again in 40 seconds/);
  });

  it('lets no more failures through than the limit when attempts arrive at once', async () => {
    const slowWrong = () =>
      new Promise<string>((_, reject) =>
        setTimeout(() => reject(TandemError.of('WRONG_PASSWORD')), 20),
      );
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(i % 2, 'fay', '10.0.1.1', slowWrong)),
    );
    expect(results.filter((r) => r === 'WRONG_PASSWORD')).toHaveLength(3);
    expect(results.filter((r) => r === 'RATE_LIMITED')).toHaveLength(9);
  });

  it('counts other failures (a weak new password) for nothing', async () => {
    const weak = () => Promise.reject(TandemError.of('WEAK_PASSWORD', 10, 3));
    for (let i = 0; i < 6; i++)
      expect(await attempt(0, 'gus', '10.0.2.1', weak)).toBe('WEAK_PASSWORD');
    expect(await attempt(0, 'gus', '10.0.2.1', right)).toBe('in');
  });

  it('counts an IPv6 address by its /64, and an IPv4-mapped one as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
  });
});

/**
 * Limits on failed sign-ins, kept in the database so that hubs sharing it share them.
 *
 * Two counters per fixed window (default 15 minutes), and only failures count:
 * - an account from one address (default 10 failures): an attacker guessing one account is
 *   stopped, but only at their own address, so the real user still signs in from any other;
 * - an address across all accounts (default 100 failures): one address cannot guess many
 *   accounts at ten tries each. An office behind one NAT reaches it only with a hundred
 *   wrong passwords in the window, and correct ones never count.
 * IPv6 addresses count by their /64, which one machine usually has whole.
 *
 * An attempt is counted as a failure before its password is checked and handed back when it
 * succeeds (or fails for another reason), so parallel attempts cannot all pass a check made
 * before any of them was counted. A refused attempt counts for nothing.
 */
import { sql } from 'kysely';
import { isIP } from 'node:net';
import { TandemError } from '../../protocol/errors.js';
import type { HubContext } from '../context.js';
import { LAZY_WRITE } from '../db/open.js';

export interface SignInLimits {
  /** Failures of one account from one address per window. */
  readonly perAccountAddress: number;
  /** Failures from one address, whatever the accounts, per window. */
  readonly perAddress: number;
  readonly windowMs: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  perAccountAddress: 10,
  perAddress: 100,
  windowMs: 15 * 60_000,
};

/** 429 RATE_LIMITED, with the seconds until the window that refused it ends. */
export class SignInLimitedError extends TandemError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', TandemError.of('RATE_LIMITED', waitText(retryAfterSeconds)).message);
  }
}

function waitText(seconds: number): string {
  return seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
}

/** The part of an address one counter covers: the address, or an IPv6 address's /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Runs `attempt` (which checks a password and throws WRONG_PASSWORD when it is wrong) under
 * the limits for `user` at `address`. Throws SignInLimitedError without running it when either
 * counter is used up; a WRONG_PASSWORD counts against both, anything else counts for nothing.
 * Safe to call concurrently, from any number of hubs on one database.
 */
export async function limitSignIn<T>(
  ctx: HubContext,
  limits: SignInLimits,
  who: { readonly user: string; readonly address: string },
  attempt: () => Promise<T>,
): Promise<T> {
  const address = addressKey(who.address);
  const keys = [
    { key: `account:${who.user.toLowerCase()}@${address}`, limit: limits.perAccountAddress },
    { key: `address:${address}`, limit: limits.perAddress },
  ];
  const now = ctx.now();
  const windowFrom = now - limits.windowMs;
  const refuse = (rows: readonly { key: string; window_start: number; failures: number }[]) => {
    const over = rows.filter(
      (r) =>
        Number(r.window_start) > windowFrom &&
        Number(r.failures) >= keys.find((k) => k.key === r.key)!.limit,
    );
    if (over.length === 0) return undefined;
    const ends = Math.max(...over.map((r) => Number(r.window_start) + limits.windowMs));
    return new SignInLimitedError(Math.max(1, Math.ceil((ends - now) / 1000)));
  };
  // A caller already over a limit costs one read, no write and no password check.
  const before = await ctx.db
    .selectFrom('sign_in_failures')
    .select(['key', 'window_start', 'failures'])
    .where(
      'key',
      'in',
      keys.map((k) => k.key),
    )
    .execute();
  const early = refuse(before);
  if (early) throw early;

  // Counted as failures now, handed back unless the password was wrong.
  const counted: { key: string; window_start: number; failures: number }[] = [];
  for (const { key } of keys) {
    const row = await sql<{ key: string; window_start: number; failures: number }>`${sql.raw(
      LAZY_WRITE,
    )} INSERT INTO sign_in_failures (key, window_start, failures) VALUES (${key}, ${now}, 1)
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN sign_in_failures.window_start <= ${windowFrom} THEN 1
                        ELSE sign_in_failures.failures + 1 END,
        window_start = CASE WHEN sign_in_failures.window_start <= ${windowFrom} THEN ${now}
                            ELSE sign_in_failures.window_start END
      RETURNING key, window_start, failures`.execute(ctx.db);
    counted.push(...row.rows);
  }
  const handBack = async () => {
    await sql`${sql.raw(LAZY_WRITE)} UPDATE sign_in_failures SET failures = failures - 1
      WHERE key IN (${sql.join(keys.map((k) => k.key))}) AND failures > 0`.execute(ctx.db);
  };
  // Over a limit only by the attempts counted meanwhile: refused as if it came after them.
  const late = refuse(counted.map((r) => ({ ...r, failures: Number(r.failures) - 1 })));
  if (late) {
    await handBack();
    throw late;
  }
  try {
    const result = await attempt();
    await handBack();
    return result;
  } catch (error) {
    if (!(error instanceof TandemError && error.code === 'WRONG_PASSWORD')) await handBack();
    else await forgetOld(ctx, windowFrom);
    throw error;
  }
}

/** Windows that ended are of no use: they go as failures come (an index on window_start). */
async function forgetOld(ctx: HubContext, windowFrom: number): Promise<void> {
  await sql`${sql.raw(LAZY_WRITE)} DELETE FROM sign_in_failures WHERE window_start <= ${windowFrom}`.execute(
    ctx.db,
  );
}

import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/rate-limit.js';

describe('RateLimiter', () => {
  it('refuses a key past its limit within a window, and allows it again in the next', () => {
    let now = 0;
    const limiter = new RateLimiter(3, 1000, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now = 1000;
    expect(limiter.take('a')).toBe(true);
  });

  it('keeps limiting a key under attack while a flood of other keys passes the bound', () => {
    // Regression: past 10,000 keys the whole map was cleared, so 10,001 throwaway user names
    // reset the counter of the account being guessed.
    const limiter = new RateLimiter(3, 60_000, () => 0, 1000);
    for (let i = 0; i < 3; i++) expect(limiter.take('ip|victim')).toBe(true);
    for (let i = 0; i < 5000; i++) {
      limiter.take(`ip|noise-${i}`);
      if (i % 100 === 0) expect(limiter.take('ip|victim')).toBe(false);
    }
    expect(limiter.take('ip|victim')).toBe(false);
    expect(limiter.size).toBeLessThanOrEqual(1000);
  });

  it('forgets the key seen longest ago first', () => {
    const limiter = new RateLimiter(1, 60_000, () => 0, 2);
    limiter.take('old');
    limiter.take('recent');
    limiter.take('newest'); // pushes out 'old'
    expect(limiter.take('old')).toBe(true); // forgotten: a fresh window
    expect(limiter.take('newest')).toBe(false);
  });
});

/**
 * A fixed-window counter per key (client address + user name) for authentication attempts.
 * The keys live in a least-recently-used map of bounded size: past the bound, the keys not
 * seen for longest are forgotten one by one, so a flood of new keys (many user names, many
 * addresses) cannot reset the counters of the keys under attack, as clearing the whole map did.
 * In memory: each hub process limits on its own, which bounds guessing per process.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Counts one attempt; false when the key is over its limit for the current window. */
  take(key: string): boolean {
    const now = this.now();
    let window = this.windows.get(key);
    if (window) this.windows.delete(key); // re-inserted last: the most recently used
    if (!window || now - window.start >= this.windowMs) window = { start: now, count: 0 };
    window.count++;
    this.windows.set(key, window);
    while (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value!;
      this.windows.delete(oldest);
    }
    return window.count <= this.limit;
  }

  /** Keys remembered (for tests). */
  get size(): number {
    return this.windows.size;
  }
}

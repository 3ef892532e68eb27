import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/core/buffer-pool.js';

describe('BufferPool', () => {
  it('lends a buffer again only once every holder has let it go', () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take();
    pool.hold(a.subarray(10, 20)); // a view holds the whole buffer
    pool.release(a);
    expect(pool.take().buffer).not.toBe(a.buffer); // still held by the view
    pool.release(a.subarray(0, 1));
    expect(pool.lends(a)).toBe(false);
    const again = pool.take();
    expect(again.buffer).toBe(a.buffer);
    expect(again.length).toBe(1024);
  });

  it('keeps at most `keep` idle buffers, and a hold lets go once', () => {
    const pool = new BufferPool(16, 1);
    const [a, b] = [pool.take(), pool.take()];
    const letGo = pool.hold(a);
    letGo();
    letGo(); // no second release: the taker still holds `a`
    expect(pool.lends(a)).toBe(true);
    pool.release(a);
    pool.release(b); // over `keep`: dropped
    expect(pool.take().buffer).toBe(a.buffer);
    expect(pool.take().buffer).not.toBe(b.buffer);
  });

  it('refuses views of buffers it did not lend', () => {
    const pool = new BufferPool(16);
    expect(() => pool.hold(Buffer.alloc(16))).toThrow(/does not lend/);
    expect(() => pool.release(Buffer.alloc(16))).toThrow(/does not lend/);
  });
});

/**
 * Buffers of one size, read into again once nothing holds them. Node allocates each large
 * buffer on its own and V8 collects buffer memory only for every 64 MB of it, so a gigabyte
 * streamed through fresh buffers leaves up to that much garbage in the process (and a full
 * garbage collection for each 64 MB). Holders count per buffer: `take` holds it once, every
 * `hold` once more, and each release (`release`, or the function `hold` returns) lets one go.
 */
export class BufferPool {
  private readonly spare: Buffer[] = [];
  /** (Weak: a buffer a holder never released is simply collected, not kept here.) */
  private readonly holders = new WeakMap<ArrayBufferLike, number>();

  /**
   * `keep`: at most this many idle buffers are kept for reuse. `allocate` makes a new one: a
   * buffer whose (Shared)ArrayBuffer is its own and starts at offset 0, never a slice of
   * Node's shared pool.
   */
  constructor(
    readonly size: number,
    private readonly keep = 8,
    private readonly allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafeSlow(bytes),
  ) {}

  /** A buffer of `size` bytes (its contents are garbage), held once by the caller. */
  take(): Buffer {
    const buffer = this.spare.pop() ?? this.allocate(this.size);
    this.holders.set(buffer.buffer, 1);
    return buffer;
  }

  /** True when `view` lies in a buffer this pool lent and is still held. */
  lends(view: Uint8Array): boolean {
    return this.holders.has(view.buffer);
  }

  /**
   * One more holder of the buffer that `view` lies in (taken from this pool). Returns that
   * holder's release, which does nothing when called again.
   */
  hold(view: Uint8Array): () => void {
    const count = this.holders.get(view.buffer);
    if (count === undefined) throw new Error('hold of a buffer this pool does not lend');
    this.holders.set(view.buffer, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(view);
    };
  }

  /** One holder fewer; the buffer is reused once it has none. */
  release(view: Uint8Array): void {
    const count = this.holders.get(view.buffer);
    if (count === undefined) throw new Error('release of a buffer this pool does not lend');
    if (count > 1) {
      this.holders.set(view.buffer, count - 1);
      return;
    }
    this.holders.delete(view.buffer);
    if (this.spare.length < this.keep) this.spare.push(Buffer.from(view.buffer, 0, this.size));
  }
}

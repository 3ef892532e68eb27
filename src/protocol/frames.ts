/**
 * The binary framing of chunk batches: `[u32 big-endian length][bytes]` repeated. Used for
 * uploading many chunks in one request and downloading many in one response.
 */

/** Encodes one frame header, in a buffer of `room` bytes (the rest is the caller's). */
export function frameHeader(length: number, room = 4): Buffer {
  const header = Buffer.allocUnsafe(room);
  header.writeUInt32BE(length, 0);
  return header;
}

/**
 * Incremental frame decoder: feed bytes, get whole frames back. Throws a RangeError when a
 * frame would exceed `maxFrame` (a corrupt or hostile stream).
 */
export class FrameDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(private readonly maxFrame: number) {}

  /**
   * Returns the frames completed by `data`. A frame inside one received buffer is a view of
   * it; one that spans buffers is copied once into a buffer of its own.
   */
  push(data: Buffer): Buffer[] {
    if (data.length > 0) {
      this.buffered.push(data);
      this.bufferedBytes += data.length;
    }
    const frames: Buffer[] = [];
    while (this.bufferedBytes >= 4) {
      const length = this.peekLength();
      if (length > this.maxFrame)
        throw new RangeError(`frame of ${length} bytes exceeds ${this.maxFrame}`);
      if (this.bufferedBytes < 4 + length) break;
      this.skip(4);
      frames.push(this.take(length));
    }
    return frames;
  }

  /** True when no partial frame is pending. */
  get idle(): boolean {
    return this.bufferedBytes === 0;
  }

  private peekLength(): number {
    const first = this.buffered[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.allocUnsafe(4);
    let filled = 0;
    for (const part of this.buffered) {
      filled += part.copy(head, filled, 0, Math.min(part.length, 4 - filled));
      if (filled === 4) break;
    }
    return head.readUInt32BE(0);
  }

  private skip(n: number): void {
    this.take(n);
  }

  /** Removes the next `n` buffered bytes (n <= bufferedBytes). */
  private take(n: number): Buffer {
    this.bufferedBytes -= n;
    const first = this.buffered[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.buffered.shift();
      else this.buffered[0] = first.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const part = this.buffered[0]!;
      const used = Math.min(part.length, n - filled);
      part.copy(out, filled, 0, used);
      filled += used;
      if (used === part.length) this.buffered.shift();
      else this.buffered[0] = part.subarray(used);
    }
    return out;
  }
}

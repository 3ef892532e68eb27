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

  push(data: Buffer): Buffer[] {
    this.buffered.push(data);
    this.bufferedBytes += data.length;
    const frames: Buffer[] = [];
    while (this.bufferedBytes >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrame)
        throw new RangeError(`frame of ${length} bytes exceeds ${this.maxFrame}`);
      if (this.bufferedBytes < 4 + length) break;
      const all = this.take(4 + length);
      frames.push(all.subarray(4));
    }
    return frames;
  }

  /** True when no partial frame is pending. */
  get idle(): boolean {
    return this.bufferedBytes === 0;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0]!.length >= n) return this.buffered[0]!;
    const joined = Buffer.concat(this.buffered);
    this.buffered = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return out;
  }
}

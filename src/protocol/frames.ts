/**
 * The binary framing of chunk batches: `[u32 big-endian length][bytes]` repeated. Used for
 * uploading many chunks in one request and downloading many in one response.
 */
import type { ChunkId } from '../core/ids.js';

/** Encodes one frame header. */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(length, 0);
  return header;
}

/** The 36 bytes before a chunk's bytes in a chunk frame: its length header and its id. */
export function chunkFrameHead(id: string, size: number): Buffer {
  const head = Buffer.allocUnsafe(36);
  head.writeUInt32BE(32 + size, 0);
  head.write(id, 4, 'hex');
  return head;
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
    return this.frames(data, (n) => this.take(n));
  }

  /**
   * Like `push`, but each frame comes as the consecutive views of the received buffers that
   * hold it: nothing is copied (a large frame usually spans several reads of the socket).
   */
  pushParts(data: Buffer): Buffer[][] {
    return this.frames(data, (n) => this.takeParts(n));
  }

  private frames<T>(data: Buffer, take: (n: number) => T): T[] {
    if (data.length > 0) {
      this.buffered.push(data);
      this.bufferedBytes += data.length;
    }
    const frames: T[] = [];
    while (this.bufferedBytes >= 4) {
      const length = this.peekLength();
      if (length > this.maxFrame)
        throw new RangeError(`frame of ${length} bytes exceeds ${this.maxFrame}`);
      if (this.bufferedBytes < 4 + length) break;
      this.takeParts(4); // the header
      frames.push(take(length));
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

  /** Removes the next `n` buffered bytes (n <= bufferedBytes), as views. */
  private takeParts(n: number): Buffer[] {
    this.bufferedBytes -= n;
    const parts: Buffer[] = [];
    for (let left = n; left > 0;) {
      const part = this.buffered[0]!;
      if (part.length <= left) {
        parts.push(part);
        this.buffered.shift();
        left -= part.length;
      } else {
        parts.push(part.subarray(0, left));
        this.buffered[0] = part.subarray(left);
        left = 0;
      }
    }
    return parts;
  }

  /** Removes the next `n` buffered bytes (n <= bufferedBytes), in one buffer. */
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

/**
 * A chunk frame (`[32-byte id][bytes]`, in parts as `pushParts` gives it): the id, and the
 * parts of the bytes as views. Undefined when the frame is shorter than an id.
 */
export function splitChunkFrame(
  frame: readonly Buffer[],
): { id: ChunkId; parts: Buffer[]; size: number } | undefined {
  let size = -32;
  for (const part of frame) size += part.length;
  if (size < 0) return undefined;
  const first = frame[0]!;
  const head = first.length >= 32 ? first : Buffer.concat(frame, 32); // (only the id copied)
  const bytes: Buffer[] = [];
  let skip = 32;
  for (const part of frame) {
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    bytes.push(skip > 0 ? part.subarray(skip) : part);
    skip = 0;
  }
  return { id: head.subarray(0, 32).toString('hex') as ChunkId, parts: bytes, size };
}

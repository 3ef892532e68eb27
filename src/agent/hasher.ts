/**
 * Hashes a file as a stream: FastCDC boundaries, a SHA-256 per chunk, the content id over
 * the chunk ids. One buffer of (read size + maximum chunk) is reused for the whole file: only
 * the unfinished tail (less than one maximum chunk) is copied between reads, and memory stays
 * bounded whatever the file's size.
 */
import { cutAll, DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../core/chunking.js';
import { chunkIdOf, manifestOf, type ChunkRef, type Manifest } from '../core/hashing.js';
import type { FileSystem } from '../fs/file-system.js';

const READ_SIZE = 8 * 1024 * 1024;

/**
 * Receives a chunk as it is cut. `bytes` stays as it is until `release` is called (once;
 * later calls do nothing); after that the hasher may read the next part of the file into it.
 */
export type OnChunk = (chunk: ChunkRef, bytes: Buffer, release: () => void) => Promise<void>;

/**
 * Hashes the file at `path`; `sizeHint` (its size when stat'ed) sizes the buffer for small
 * files. Throws what the filesystem throws (ENOENT when it vanished). Same boundaries as
 * `splitBuffer` over the whole file.
 */
export async function hashFile(
  fs: FileSystem,
  path: string,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
  sizeHint = READ_SIZE,
): Promise<Manifest> {
  return (await hashAndKeep(fs, path, params, sizeHint)).manifest;
}

/**
 * Like `hashFile`, and also returns the file's bytes when they fit in one read (small files):
 * the caller may upload exactly the bytes it hashed without reading the file again. For
 * larger ones, `onChunk` receives each chunk as it is cut: a view the hasher does not write
 * to again until the chunk's `release` is called (hashing waits for the returned promise).
 */
export async function hashAndKeep(
  fs: FileSystem,
  path: string,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
  sizeHint = READ_SIZE,
  onChunk?: OnChunk,
): Promise<{ manifest: Manifest; bytes: Buffer | undefined }> {
  const handle = await fs.openRead(path);
  const chunks: ChunkRef[] = [];
  let whole: Buffer | undefined;
  // One spare byte lets a small file's single read also see its end.
  // (Sized to the file: a fixed 64 KiB per small file was most of a scan's garbage.)
  let buffers = new ReadBuffers(Math.max(4096, Math.min(READ_SIZE + params.maxSize, sizeHint + 1)));
  let lease = buffers.take();
  let buffer = lease.buffer;
  try {
    let filled = 0;
    let position = 0;
    let eof = false;
    for (;;) {
      while (!eof && filled < buffer.length) {
        const n = await handle.read(buffer, filled, buffer.length - filled, position);
        if (n === 0) eof = true;
        filled += n;
        position += n;
      }
      let offset = 0;
      // Cut only where the answer cannot depend on bytes not read yet.
      for (const length of cutAll(buffer, 0, filled, eof, params)) {
        const bytes = buffer.subarray(offset, offset + length);
        const chunk = { id: chunkIdOf(bytes), size: length };
        chunks.push(chunk);
        if (onChunk) await onChunk(chunk, bytes, lease.hold());
        offset += length;
      }
      if (eof) {
        // All of it is in the buffer (never compacted): keep it, copied if the buffer is roomy.
        if (position === filled)
          whole =
            buffer.length > 2 * filled
              ? Buffer.from(buffer.subarray(0, filled))
              : buffer.subarray(0, filled);
        break;
      }
      if (offset === 0 && filled === buffer.length) {
        // The file is larger than its size hint said (it grew): make room for a whole chunk.
        buffers = new ReadBuffers(READ_SIZE + params.maxSize);
        const larger = buffers.take();
        buffer.copy(larger.buffer, 0, 0, filled);
        lease.drop();
        lease = larger;
        buffer = lease.buffer;
        continue;
      }
      if (onChunk) {
        // The chunks handed out keep their bytes until released: read on into another buffer.
        const next = buffers.take();
        buffer.copy(next.buffer, 0, offset, filled);
        lease.drop();
        lease = next;
        buffer = lease.buffer;
      } else {
        buffer.copyWithin(0, offset, filled);
      }
      filled -= offset;
    }
  } finally {
    await handle.close();
  }
  return { manifest: manifestOf(chunks), bytes: whole };
}

/**
 * The read buffers of one file that hands its chunks out: a buffer is read into again once
 * the hasher has moved past it and every chunk cut from it is released. Hashing a gigabyte
 * then reuses the few buffers its uploads keep busy, instead of leaving a hundred buffers of
 * 9 MiB for the garbage collector, which V8 lets pile up (it collects for every 64 MB of new
 * buffer memory), so the process's memory grew by all of that.
 */
class ReadBuffers {
  private readonly spare: Buffer[] = [];

  constructor(private readonly size: number) {}

  /** A buffer to read into, held by the hasher until it calls `drop`. */
  take(): Lease {
    const buffer = this.spare.pop() ?? Buffer.allocUnsafe(this.size);
    let holders = 1;
    const drop = () => {
      if (--holders === 0) this.spare.push(buffer);
    };
    return {
      buffer,
      drop,
      hold: () => {
        holders++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          drop();
        };
      },
    };
  }
}

interface Lease {
  readonly buffer: Buffer;
  /** The hasher is done with the buffer. */
  drop(): void;
  /** One more chunk of the buffer is out: returns its release. */
  hold(): () => void;
}

/**
 * Hashes a file as a stream: FastCDC boundaries, a SHA-256 per chunk, the content id over
 * the chunk ids. One buffer of (read size + maximum chunk) is reused for the whole file: only
 * the unfinished tail (less than one maximum chunk) is copied between reads, and memory stays
 * bounded whatever the file's size.
 */
import { cutAll, DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../core/chunking.js';
import { BufferPool } from '../core/buffer-pool.js';
import { HashWorker, sharedBuffer } from '../core/hash-worker.js';
import { chunkIdOf, manifestOf, type ChunkRef, type Manifest } from '../core/hashing.js';
import type { ChunkId } from '../core/ids.js';
import type { FileSystem, ReadHandle } from '../fs/file-system.js';

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
  if (sizeHint >= READ_SIZE) {
    try {
      return { manifest: await hashLarge(handle, params, onChunk), bytes: undefined };
    } finally {
      await handle.close();
    }
  }
  const chunks: ChunkRef[] = [];
  let whole: Buffer | undefined;
  // One spare byte lets a small file's single read also see its end.
  // (Sized to the file: a fixed 64 KiB per small file was most of a scan's garbage.)
  // Read buffers whose chunks are out with `onChunk` are read into again once released.
  let buffers = new BufferPool(Math.max(4096, Math.min(READ_SIZE + params.maxSize, sizeHint + 1)));
  let buffer = buffers.take();
  try {
    const at: ReadState = { filled: 0, position: 0, eof: false };
    for (;;) {
      await fill(handle, buffer, at);
      let offset = 0;
      // Cut only where the answer cannot depend on bytes not read yet.
      for (const length of cutAll(buffer, 0, at.filled, at.eof, params)) {
        const bytes = buffer.subarray(offset, offset + length);
        const chunk = { id: chunkIdOf(bytes), size: length };
        chunks.push(chunk);
        if (onChunk) await onChunk(chunk, bytes, buffers.hold(buffer));
        offset += length;
      }
      if (at.eof) {
        // All of it is in the buffer (never compacted): keep it, copied if the buffer is roomy.
        if (at.position === at.filled)
          whole =
            buffer.length > 2 * at.filled
              ? Buffer.from(buffer.subarray(0, at.filled))
              : buffer.subarray(0, at.filled);
        break;
      }
      if (offset === 0 && at.filled === buffer.length) {
        // The file is larger than its size hint said (it grew): make room for a whole chunk.
        buffers = new BufferPool(READ_SIZE + params.maxSize);
        const larger = buffers.take();
        buffer.copy(larger, 0, 0, at.filled);
        buffer = larger;
        continue;
      }
      if (onChunk) {
        // The chunks handed out keep their bytes until released: read on into another buffer.
        const next = buffers.take();
        buffer.copy(next, 0, offset, at.filled);
        buffers.release(buffer);
        buffer = next;
      } else {
        buffer.copyWithin(0, offset, at.filled);
      }
      at.filled -= offset;
    }
  } finally {
    await handle.close();
  }
  return { manifest: manifestOf(chunks), bytes: whole };
}

/** Hashes the chunks of large files while the next part is read and cut. */
const worker = new HashWorker();

/**
 * Read buffers of shared memory for large files, by size, reused from file to file. (A pool
 * per file made new ones for each: the worker's views kept every one alive until its next
 * garbage collection, which a thread that allocates so little seldom reaches.)
 */
const sharedPools = new Map<number, BufferPool>();

function sharedPool(size: number): BufferPool {
  let pool = sharedPools.get(size);
  if (!pool) {
    pool = new BufferPool(size, 3, sharedBuffer);
    sharedPools.set(size, pool);
  }
  return pool;
}

/**
 * A file of at least one read: each part is read into a buffer of shared memory and cut
 * here, and its chunks' ids are computed on the worker while the next part is read and cut.
 * Chunks go to `onChunk` in order, each part's once its ids are back.
 */
async function hashLarge(
  handle: ReadHandle,
  params: ChunkParams,
  onChunk: OnChunk | undefined,
): Promise<Manifest> {
  const chunks: ChunkRef[] = [];
  // A part: its buffer (held here until its chunks are out) and its cuts.
  type Part = { buffer: Buffer; lengths: number[]; ids: Promise<ChunkId[]> };
  const buffers = sharedPool(READ_SIZE + params.maxSize);
  const emit = async ({ buffer, lengths, ids }: Part) => {
    const done = await ids;
    for (let k = 0, offset = 0; k < lengths.length; offset += lengths[k]!, k++) {
      const chunk = { id: done[k]!, size: lengths[k]! };
      chunks.push(chunk);
      if (onChunk)
        await onChunk(chunk, buffer.subarray(offset, offset + chunk.size), buffers.hold(buffer));
    }
    buffers.release(buffer);
  };
  let pending: Part | undefined;
  let buffer = buffers.take();
  try {
    const at: ReadState = { filled: 0, position: 0, eof: false };
    for (;;) {
      await fill(handle, buffer, at);
      // Cut only where the answer cannot depend on bytes not read yet (a full buffer holds
      // more than a maximum chunk, so it always has a cut).
      const lengths = cutAll(buffer, 0, at.filled, at.eof, params);
      const previous = pending;
      pending = { buffer, lengths, ids: worker.ids(buffer, 0, lengths) };
      if (previous) await emit(previous);
      if (at.eof) break;
      // The unfinished tail starts the next buffer; this one waits for its ids.
      const cut = lengths.reduce((n, length) => n + length, 0);
      const next = buffers.take();
      buffer.copy(next, 0, cut, at.filled);
      at.filled -= cut;
      buffer = next;
    }
    const last = pending;
    pending = undefined;
    await emit(last);
  } finally {
    // (On a failure: the worker is done with the buffers before they are let go.)
    await pending?.ids.catch(() => undefined);
  }
  return manifestOf(chunks);
}

/** How far a file has been read: bytes in the buffer, the file position, whether it ended. */
interface ReadState {
  filled: number;
  position: number;
  eof: boolean;
}

/** Reads on into `buffer` (after its `filled` bytes) until it is full or the file ends. */
async function fill(handle: ReadHandle, buffer: Buffer, at: ReadState): Promise<void> {
  while (!at.eof && at.filled < buffer.length) {
    const n = await handle.read(buffer, at.filled, buffer.length - at.filled, at.position);
    if (n === 0) at.eof = true;
    at.filled += n;
    at.position += n;
  }
}

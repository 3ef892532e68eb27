/**
 * Hashes a file as a stream: FastCDC boundaries, a SHA-256 per chunk, the content id over
 * the chunk ids. One buffer of (read size + maximum chunk) is reused for the whole file: only
 * the unfinished tail (less than one maximum chunk) is copied between reads, and memory stays
 * bounded whatever the file's size.
 */
import { cutAll, DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../core/chunking.js';
import { BufferPool } from '../core/buffer-pool.js';
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
  // Read buffers whose chunks are out with `onChunk` are read into again once released.
  let buffers = new BufferPool(Math.max(4096, Math.min(READ_SIZE + params.maxSize, sizeHint + 1)));
  let buffer = buffers.take();
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
        if (onChunk) await onChunk(chunk, bytes, buffers.hold(buffer));
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
        buffers = new BufferPool(READ_SIZE + params.maxSize);
        const larger = buffers.take();
        buffer.copy(larger, 0, 0, filled);
        buffer = larger;
        continue;
      }
      if (onChunk) {
        // The chunks handed out keep their bytes until released: read on into another buffer.
        const next = buffers.take();
        buffer.copy(next, 0, offset, filled);
        buffers.release(buffer);
        buffer = next;
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

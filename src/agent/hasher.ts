/**
 * Hashes a file as a stream: FastCDC boundaries, a SHA-256 per chunk, the content id over
 * the chunk ids. Memory stays bounded by the read size plus one maximum chunk.
 */
import { ChunkSplitter, DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../core/chunking.js';
import { chunkIdOf, manifestOf, type ChunkRef, type Manifest } from '../core/hashing.js';
import type { FileSystem } from '../fs/file-system.js';

const READ_SIZE = 4 * 1024 * 1024;

/** Hashes the file at `path`. Throws what the filesystem throws (ENOENT when it vanished). */
export async function hashFile(
  fs: FileSystem,
  path: string,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
  sizeHint = READ_SIZE,
): Promise<Manifest> {
  const handle = await fs.openRead(path);
  const splitter = new ChunkSplitter(params);
  const chunks: ChunkRef[] = [];
  const take = (parts: Uint8Array[]) => {
    for (const part of parts) chunks.push({ id: chunkIdOf(part), size: part.length });
  };
  try {
    let position = 0;
    for (;;) {
      // Small files get a small buffer: allocating (and zeroing) 4 MiB per file dominated
      // the hashing of many small files. One spare byte lets the read see the end.
      const length = Math.min(READ_SIZE, Math.max(64 * 1024, sizeHint - position + 1));
      const buffer = Buffer.allocUnsafe(length);
      const n = await handle.read(buffer, 0, length, position);
      if (n === 0) break;
      position += n;
      take(splitter.push(buffer.subarray(0, n)));
    }
    take(splitter.finish());
  } finally {
    await handle.close();
  }
  return manifestOf(chunks);
}

/**
 * Content addressing. `chunk id = SHA-256(chunk bytes)`; `content id = SHA-256(the binary
 * chunk ids, concatenated)`, so the empty file's id is SHA-256 of nothing. Pure functions.
 */
import { createHash } from 'node:crypto';
import type { ChunkId, ContentId } from './ids.js';

export interface ChunkRef {
  readonly id: ChunkId;
  readonly size: number;
}

/** What a file's bytes are: its id, size and ordered chunks. Immutable, content-addressed. */
export interface Manifest {
  readonly contentId: ContentId;
  readonly size: number;
  readonly chunks: readonly ChunkRef[];
}

export function chunkIdOf(bytes: Uint8Array): ChunkId {
  return createHash('sha256').update(bytes).digest('hex') as ChunkId;
}

/** The id of a chunk given as consecutive parts. */
export function chunkIdOfParts(parts: readonly Uint8Array[]): ChunkId {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex') as ChunkId;
}

export function contentIdOf(chunks: readonly { readonly id: ChunkId }[]): ContentId {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(Buffer.from(chunk.id, 'hex'));
  return hash.digest('hex') as ContentId;
}

export function manifestOf(chunks: readonly ChunkRef[]): Manifest {
  let size = 0;
  for (const chunk of chunks) size += chunk.size;
  // A copy sized to its length: a list built by pushing keeps room for 16 more, and an agent
  // keeps one list per file it tracks.
  return { contentId: contentIdOf(chunks), size, chunks: chunks.slice() };
}

export const EMPTY_CONTENT_ID: ContentId = contentIdOf([]);

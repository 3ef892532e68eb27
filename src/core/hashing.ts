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

const HEX_64 = /^[0-9a-f]{64}$/;

/**
 * Checks that `value` is a manifest that holds together: a content id and chunk ids of 64
 * lowercase hex digits, chunk sizes that are safe integers of 0 or more, a size that is their
 * sum, and a content id that is `contentIdOf` its chunk ids. (Chunk sizes are not covered by
 * the content id: only the bytes, once fetched, show whether each size is true.) Returns the
 * manifest (the same object), or a reason a person can act on. Never throws.
 */
export function checkManifest(
  value: unknown,
):
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly reason: string } {
  const m = value as Partial<Record<keyof Manifest, unknown>> | null;
  if (typeof m !== 'object' || m === null)
    return { ok: false, reason: 'a manifest must be an object' };
  if (typeof m.contentId !== 'string' || !HEX_64.test(m.contentId))
    return { ok: false, reason: "a manifest's content id must be 64 lowercase hex digits" };
  if (!Array.isArray(m.chunks)) return { ok: false, reason: "a manifest's chunks must be a list" };
  let size = 0;
  for (const chunk of m.chunks as unknown[]) {
    const c = chunk as Partial<Record<keyof ChunkRef, unknown>> | null;
    if (typeof c !== 'object' || c === null || typeof c.id !== 'string' || !HEX_64.test(c.id))
      return { ok: false, reason: "a manifest's chunk ids must be 64 lowercase hex digits" };
    if (!Number.isSafeInteger(c.size) || (c.size as number) < 0)
      return { ok: false, reason: `chunk ${c.id.slice(0, 12)} has no valid size` };
    size += c.size as number;
  }
  if (!Number.isSafeInteger(size) || size !== m.size)
    return {
      ok: false,
      reason: `the manifest says ${String(m.size)} bytes, but its chunks add up to ${size}`,
    };
  if (contentIdOf(m.chunks as ChunkRef[]) !== m.contentId)
    return { ok: false, reason: 'its content id is not the hash of its chunk ids' };
  return { ok: true, manifest: m as Manifest };
}

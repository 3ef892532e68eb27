/**
 * The rules a manifest keeps, wherever it comes from: what a device commits (the hub) and
 * what the hub sends back (the agent). Pure, never throws.
 */
import { hash } from 'node:crypto';
import type { ChunkRef, Manifest } from './hashing.js';

export type ManifestCheck =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly reason: string };

const HEX_64 = /^[0-9a-f]{64}$/;

/**
 * Checks that `value` is a manifest that holds together: a content id and chunk ids of 64
 * lowercase hex digits, chunk sizes that are safe integers of 0 or more, a size that is their
 * sum, and a content id that is `contentIdOf` its chunk ids. (Chunk sizes are not covered by
 * the content id: only the bytes, once fetched, show whether each size is true.) Returns the
 * manifest (the same object), or a reason a person can act on.
 */
export function checkManifest(value: unknown): ManifestCheck {
  const m = value as Partial<Record<keyof Manifest, unknown>> | null;
  if (typeof m !== 'object' || m === null)
    return { ok: false, reason: 'a manifest must be an object' };
  if (typeof m.contentId !== 'string' || !HEX_64.test(m.contentId))
    return { ok: false, reason: "a manifest's content id must be 64 lowercase hex digits" };
  if (!Array.isArray(m.chunks)) return { ok: false, reason: "a manifest's chunks must be a list" };
  const chunks = m.chunks as unknown[];
  let size = 0;
  for (const chunk of chunks) {
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
  // contentIdOf, in one pass over one buffer: a download of 10,000 small files checks 10,000
  // manifests, and a hash object per manifest cost twice as much.
  const ids = Buffer.allocUnsafe(chunks.length * 32);
  chunks.forEach((c, i) => ids.write((c as ChunkRef).id, i * 32, 'hex'));
  if (hash('sha256', ids, 'hex') !== m.contentId)
    return { ok: false, reason: 'its content id is not the hash of its chunk ids' };
  return { ok: true, manifest: m as Manifest };
}

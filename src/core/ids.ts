/**
 * Branded identifiers. A brand stops a chunk id from being passed where a content id is
 * expected; the runtime value is always a plain string or number.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Lowercase hex SHA-256 of a chunk's bytes. */
export type ChunkId = Brand<string, 'ChunkId'>;
/** Lowercase hex SHA-256 of the concatenated binary chunk ids of a file. */
export type ContentId = Brand<string, 'ContentId'>;
export type WorkspaceId = Brand<string, 'WorkspaceId'>;
export type DeviceId = Brand<string, 'DeviceId'>;
export type UserId = Brand<string, 'UserId'>;
/** A workspace's journal sequence number; 0 means "before the first change". */
export type Seq = number;

const HEX_64 = /^[0-9a-f]{64}$/;

/** True when `value` has the shape of a SHA-256 id (64 lowercase hex digits). */
export function isSha256Hex(value: string): boolean {
  return HEX_64.test(value);
}

/**
 * Where chunk bytes live. Chunks are immutable and content-addressed, so every operation is
 * idempotent: putting a chunk twice stores it once, and concurrent puts of the same id are
 * safe. Implementations: disk (embedded default) and memory (tests); all pass the contract
 * suite in test/contract.
 */
import type { BufferPool } from '../core/buffer-pool.js';
import type { ChunkId } from '../core/ids.js';

/** Largest chunk any implementation accepts (the chunker's maximum is far below). */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Neighbouring chunks are read together up to this many bytes, into buffers of this size
 * from a `getMany` pool (a single larger chunk gets a buffer of its own). Each download in
 * flight holds about two such reads: at 4 MiB, a device fetching a 1 GiB file in four runs
 * kept the hub's W3 peak at 202-212 MB; at 1 MiB, 189-193 MB in the same time.
 */
export const READ_RUN_BYTES = 1024 * 1024;

/** A chunk's bytes: whole, or in consecutive parts (as they arrived from the network). */
export type ChunkBytes = Uint8Array | readonly Uint8Array[];

/** The parts of a chunk's bytes, in order. */
export function partsOf(bytes: ChunkBytes): readonly Uint8Array[] {
  return bytes instanceof Uint8Array ? [bytes] : bytes;
}

export interface StoredChunk {
  readonly id: ChunkId;
  readonly bytes: ChunkBytes;
}

export interface ChunkStore {
  /** The subset of `ids` that is stored. */
  has(ids: readonly ChunkId[]): Promise<Set<ChunkId>>;
  /** The size in bytes of each of `ids` that is stored (ids not stored are absent). */
  sizes(ids: readonly ChunkId[]): Promise<Map<ChunkId, number>>;
  /**
   * Forgets chunks: once it resolves they are not stored (unknown ids are ignored), and their
   * space is given back where the implementation can (a disk store frees a pack once none of
   * its chunks is left). The caller makes sure nothing refers to them, or will: deleting a
   * chunk a commit uses loses data.
   */
  delete(ids: readonly ChunkId[]): Promise<void>;
  /**
   * Stores chunks. The caller has verified each id against its bytes. Resolves only when every
   * chunk is durable (it survives a crash of the process or the machine).
   */
  put(chunks: readonly StoredChunk[]): Promise<void>;
  /**
   * Stores chunks without waiting for the disk: they are readable at once, but a crash before
   * the next `sync` may lose them (then they are simply missing, never wrong).
   */
  write(chunks: readonly StoredChunk[]): Promise<void>;
  /** Makes every chunk written before this call durable. */
  sync(): Promise<void>;
  /** A chunk's bytes, or undefined when it is not stored. */
  get(id: ChunkId): Promise<Buffer | undefined>;
  /**
   * The bytes of many chunks, in the order of `ids` (undefined for those not stored). With
   * `reuse`, bytes may be read into its buffers, and such a buffer is read into again once
   * the iteration has moved past it: a caller that keeps a yielded view longer holds it
   * (`reuse.hold` before asking for the next chunk, `reuse.release` when done).
   */
  getMany(ids: readonly ChunkId[], reuse?: BufferPool): AsyncIterable<Buffer | undefined>;
  /**
   * How many chunks are stored and their bytes (each chunk once: the space they take, not
   * what the workspaces refer to). For the hub's metrics; cheap enough to ask per scrape.
   */
  usage(): Promise<StoreUsage>;
  /**
   * Resolves if the store can serve reads and writes now; rejects, saying why, if it cannot
   * (its folder gone or not writable, its index unreadable). For the hub's health check: it
   * writes nothing that stays.
   */
  check(): Promise<void>;
  /** Releases resources; further calls are not allowed. */
  close(): Promise<void>;
}

export interface StoreUsage {
  readonly chunks: number;
  readonly bytes: number;
}

/** Keeps chunks in a Map. For tests and the property test's simulated hub. */
export class MemoryChunkStore implements ChunkStore {
  private readonly chunks = new Map<ChunkId, Buffer>();

  async has(ids: readonly ChunkId[]): Promise<Set<ChunkId>> {
    return new Set(ids.filter((id) => this.chunks.has(id)));
  }

  async sizes(ids: readonly ChunkId[]): Promise<Map<ChunkId, number>> {
    const out = new Map<ChunkId, number>();
    for (const id of ids) {
      const bytes = this.chunks.get(id);
      if (bytes) out.set(id, bytes.length);
    }
    return out;
  }

  async delete(ids: readonly ChunkId[]): Promise<void> {
    for (const id of ids) this.chunks.delete(id);
  }

  async put(chunks: readonly StoredChunk[]): Promise<void> {
    for (const { id, bytes } of chunks)
      if (!this.chunks.has(id)) this.chunks.set(id, Buffer.concat(partsOf(bytes)));
  }

  write(chunks: readonly StoredChunk[]): Promise<void> {
    return this.put(chunks);
  }

  async sync(): Promise<void> {}

  async get(id: ChunkId): Promise<Buffer | undefined> {
    return this.chunks.get(id);
  }

  async *getMany(ids: readonly ChunkId[]): AsyncIterable<Buffer | undefined> {
    for (const id of ids) yield this.chunks.get(id);
  }

  async usage(): Promise<StoreUsage> {
    let bytes = 0;
    for (const chunk of this.chunks.values()) bytes += chunk.length;
    return { chunks: this.chunks.size, bytes };
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {}

  get size(): number {
    return this.chunks.size;
  }
}

/** One contract, every ChunkStore: memory and disk pass the same tests. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/core/buffer-pool.js';
import { chunkIdOf } from '../../src/core/hashing.js';
import { MemoryChunkStore, type ChunkStore } from '../../src/store/chunk-store.js';
import { DiskChunkStore } from '../../src/store/disk-chunk-store.js';

const chunk = (bytes: Uint8Array) => ({ id: chunkIdOf(bytes), bytes });

function chunkStoreContract(
  name: string,
  open: () => Promise<{
    store: ChunkStore;
    reopen?: () => Promise<ChunkStore>;
    cleanup: () => Promise<void>;
  }>,
) {
  describe(`ChunkStore contract: ${name}`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => cleanup?.());

    it('stores and returns bytes by id', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const a = chunk(randomBytes(1000));
      const empty = chunk(new Uint8Array(0));
      await opened.store.put([a, empty]);
      expect((await opened.store.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
      expect((await opened.store.get(empty.id))?.length).toBe(0);
    });

    it('stores a chunk given in parts as the bytes of its parts in order', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const whole = randomBytes(5000);
      const parts = [whole.subarray(0, 1), whole.subarray(1, 4096), whole.subarray(4096)];
      const other = chunk(randomBytes(300));
      await opened.store.put([{ id: chunkIdOf(whole), bytes: parts }, other]);
      expect((await opened.store.get(chunkIdOf(whole)))?.equals(whole)).toBe(true);
      expect((await opened.store.get(other.id))?.equals(Buffer.from(other.bytes))).toBe(true);
    });

    it('returns many chunks in the order asked, neighbours or not', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const [a, b, c, d] = [1000, 70_000, 10, 3000].map((n) => chunk(randomBytes(n)));
      await opened.store.put([a!, b!, c!]);
      await opened.store.put([d!]);
      const missing = chunk(randomBytes(5));
      const order = [c!, a!, b!, c!, missing, d!, a!];
      const got: (Buffer | undefined)[] = [];
      for await (const bytes of opened.store.getMany(order.map((x) => x.id))) got.push(bytes);
      expect(got.map((bytes) => bytes && chunkIdOf(bytes))).toEqual(
        order.map((x) => (x === missing ? undefined : x.id)),
      );
    });

    it('serves written chunks at once and keeps them once synced', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const a = chunk(randomBytes(3000));
      await opened.store.write([a]);
      expect(await opened.store.has([a.id])).toEqual(new Set([a.id]));
      expect((await opened.store.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
      const unsynced = chunk(randomBytes(100));
      if (opened.reopen) {
        // Another reader of the same store sees only what is durable.
        await opened.store.write([unsynced]);
        const reader = await opened.reopen();
        expect(await reader.has([a.id, unsynced.id])).toEqual(new Set());
        await opened.store.sync();
        expect((await reader.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
        expect((await reader.get(unsynced.id))?.equals(Buffer.from(unsynced.bytes))).toBe(true);
        await reader.close();
      }
    });

    it('answers which ids it has', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const a = chunk(randomBytes(10));
      const b = chunk(randomBytes(10));
      await opened.store.put([a]);
      expect(await opened.store.has([a.id, b.id])).toEqual(new Set([a.id]));
      expect(await opened.store.get(b.id)).toBeUndefined();
    });

    it('is idempotent, including concurrent puts of one chunk', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const a = chunk(randomBytes(100_000));
      await Promise.all([opened.store.put([a]), opened.store.put([a]), opened.store.put([a, a])]);
      expect((await opened.store.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
    });

    it('never reads into a pooled buffer that the caller still holds', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      // One put each: separate packs, so separate reads.
      const chunks = Array.from({ length: 12 }, () => chunk(randomBytes(100_000)));
      for (const c of chunks) await opened.store.put([c]);
      const pool = new BufferPool(4 * 1024 * 1024, 4);
      const kept: Buffer[] = [];
      for await (const bytes of opened.store.getMany(
        chunks.map((c) => c.id),
        pool,
      )) {
        if (pool.lends(bytes!)) pool.hold(bytes!);
        kept.push(bytes!);
      }
      expect(kept.map((bytes) => chunkIdOf(bytes))).toEqual(chunks.map((c) => c.id));
    });

    it('keeps chunks across a reopen (when it is durable)', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      if (!opened.reopen) return expect(opened.reopen).toBeUndefined(); // memory: nothing to reopen
      const a = chunk(randomBytes(5000));
      await opened.store.put([a]);
      await opened.store.close();
      const again = await opened.reopen();
      try {
        expect((await again.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
      } finally {
        await again.close(); // (left open, its pack handle was closed by the garbage collector)
      }
    });
  });
}

chunkStoreContract('memory', async () => ({
  store: new MemoryChunkStore(),
  cleanup: async () => {},
}));
chunkStoreContract('disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-chunks-'));
  const store = await DiskChunkStore.open(dir);
  return {
    store,
    reopen: () => DiskChunkStore.open(dir),
    cleanup: async () => {
      // (Its open packs too: left to the garbage collector, Node warns about each.)
      await store.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('DiskChunkStore', () => {
  it('reads into the same few pooled buffers when the caller lets each go', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-chunks-'));
    const store = await DiskChunkStore.open(dir);
    try {
      const chunks = Array.from({ length: 12 }, () => chunk(randomBytes(100_000)));
      for (const c of chunks) await store.put([c]);
      const pool = new BufferPool(4 * 1024 * 1024, 4);
      const buffers = new Set<ArrayBufferLike>();
      const ids: string[] = [];
      for await (const bytes of store.getMany(
        chunks.map((c) => c.id),
        pool,
      )) {
        buffers.add(bytes!.buffer);
        ids.push(chunkIdOf(bytes!));
      }
      expect(ids).toEqual(chunks.map((c) => c.id));
      // The run being yielded and the one read ahead.
      expect(buffers.size).toBeLessThanOrEqual(3);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

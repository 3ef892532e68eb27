/** One contract, every ChunkStore: memory and disk pass the same tests. */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
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

    it('counts each stored chunk once in its usage, written or synced, and forgets deleted ones', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      expect(await opened.store.usage()).toEqual({ chunks: 0, bytes: 0 });
      const [a, b, c] = [1000, 2500, 7].map((n) => chunk(randomBytes(n)));
      await opened.store.put([a!, b!, a!]);
      await opened.store.write([c!, b!]);
      expect(await opened.store.usage()).toEqual({ chunks: 3, bytes: 3507 });
      await opened.store.delete([b!.id]);
      expect(await opened.store.usage()).toEqual({ chunks: 2, bytes: 1007 });
      await opened.store.check();
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

    it('answers the stored size of each id it has', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const a = chunk(randomBytes(1234));
      const empty = chunk(new Uint8Array(0));
      await opened.store.put([a, empty]);
      const written = chunk(randomBytes(77));
      await opened.store.write([written]); // not synced yet: sized all the same
      const absent = chunk(randomBytes(5));
      expect(await opened.store.sizes([a.id, empty.id, written.id, absent.id])).toEqual(
        new Map([
          [a.id, 1234],
          [empty.id, 0],
          [written.id, 77],
        ]),
      );
    });

    it('forgets deleted chunks, synced or not, and keeps the others', async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const [a, b, c] = [100, 200, 300].map((n) => chunk(randomBytes(n)));
      await opened.store.put([a!, b!]);
      await opened.store.write([c!]);
      await opened.store.delete([a!.id, c!.id, chunk(randomBytes(1)).id]);
      expect(await opened.store.has([a!.id, b!.id, c!.id])).toEqual(new Set([b!.id]));
      expect(await opened.store.get(a!.id)).toBeUndefined();
      expect((await opened.store.get(b!.id))?.equals(Buffer.from(b!.bytes))).toBe(true);
      await opened.store.sync();
      expect(await opened.store.has([c!.id])).toEqual(new Set());
      // A deleted chunk can be stored again.
      await opened.store.put([a!]);
      expect((await opened.store.get(a!.id))?.equals(Buffer.from(a!.bytes))).toBe(true);
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
  it('fails its check once its packs folder is gone, and passes again once it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-chunks-'));
    const store = await DiskChunkStore.open(dir);
    try {
      await store.check();
      await rm(join(dir, 'packs'), { recursive: true });
      await expect(store.check()).rejects.toThrow(/packs/);
      await mkdir(join(dir, 'packs'));
      await store.check();
      await rm(join(dir, 'index.db'));
      await expect(store.check()).rejects.toThrow(/index\.db/);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removes a pack once none of its chunks is left, and keeps one that still holds some', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-chunks-'));
    const store = await DiskChunkStore.open(dir);
    try {
      const [a, b] = [chunk(randomBytes(1000)), chunk(randomBytes(1000))];
      const c = chunk(randomBytes(1000));
      await store.put([a, b]); // one pack
      await store.put([c]); // another
      expect(await readdir(join(dir, 'packs'))).toHaveLength(2);
      await store.delete([a.id]);
      expect(await readdir(join(dir, 'packs'))).toHaveLength(2);
      expect((await store.get(b.id))?.equals(Buffer.from(b.bytes))).toBe(true);
      await store.delete([b.id, c.id]);
      expect(await readdir(join(dir, 'packs'))).toHaveLength(0);
      await store.close();
      const again = await DiskChunkStore.open(dir);
      expect(await again.has([a.id, b.id, c.id])).toEqual(new Set());
      await again.close();
    } finally {
      await store.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('opens an index written before it had a version (a hub of the previous release)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-chunks-'));
    try {
      // What the previous release created: the chunks table, user_version 0.
      const a = chunk(randomBytes(500));
      const first = await DiskChunkStore.open(dir);
      await first.put([a]);
      await first.close();
      const old = new Database(join(dir, 'index.db'));
      old.exec('DROP INDEX chunks_pack');
      old.pragma('user_version = 0');
      old.close();
      const store = await DiskChunkStore.open(dir);
      expect((await store.get(a.id))?.equals(Buffer.from(a.bytes))).toBe(true);
      await store.delete([a.id]);
      expect(await readdir(join(dir, 'packs'))).toHaveLength(0);
      await store.close();
      const reopened = new Database(join(dir, 'index.db'));
      expect(reopened.pragma('user_version', { simple: true })).toBe(2);
      reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

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

/**
 * Chunks on local disk, packed: every `write` appends its new chunks to one pack file
 * (`ROOT/packs/<id>.pack`); `sync` fsyncs the packs written since the last sync and their
 * folder, then records where each chunk lives in an index (`ROOT/index.db`, SQLite in WAL
 * mode, its log fsynced before `sync` returns). Thousands of small chunks, or a gigabyte
 * uploaded in many requests, cost a few fsyncs at commit time instead of some per request.
 *
 * The index only names bytes that are already durable; written chunks wait in memory until
 * the next sync. A crash before it leaves unindexed packs (wasted space, never a wrong
 * answer); the chunks are simply uploaded again.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BufferPool } from '../core/buffer-pool.js';
import type { ChunkId } from '../core/ids.js';
import {
  partsOf,
  READ_RUN_BYTES,
  type ChunkBytes,
  type ChunkStore,
  type StoredChunk,
  type StoreUsage,
} from './chunk-store.js';
import { WalDurability } from './sqlite-durability.js';

/** Packs kept open for reading. */
const OPEN_PACKS = 32;
/** Buffers per vectored write (below every platform's IOV_MAX). */
const WRITEV_BUFFERS = 512;

interface Location {
  pack: string;
  offset: number;
  size: number;
}

export class DiskChunkStore implements ChunkStore {
  private readonly index: Database.Database;
  private readonly indexDurability: WalDurability;
  private readonly lookup: Database.Statement<[string], Location>;
  private readonly insert: Database.Statement<[string, string, number, number]>;
  /** Chunks being written by a put that has not finished, so concurrent puts skip them. */
  private readonly inFlight = new Map<ChunkId, Promise<void>>();
  /** Chunks written to packs that are not durable yet; the next `sync` indexes them. */
  private readonly unsynced = new Map<ChunkId, Location>();
  private syncing: Promise<void> = Promise.resolve();
  /** The fsync started for each unsynced pack when it was written. */
  private readonly flushing = new Map<string, Promise<void>>();
  /** Open packs for reading, least recently used first. */
  private readonly readers = new Map<string, Promise<FileHandle>>();

  private constructor(private readonly root: string) {
    this.index = new Database(join(root, 'index.db'));
    this.indexDurability = new WalDurability(this.index, join(root, 'index.db'));
    migrateIndex(this.index, join(root, 'index.db'));
    this.lookup = this.index.prepare('SELECT pack, offset, size FROM chunks WHERE id = ?');
    this.insert = this.index.prepare(
      'INSERT OR IGNORE INTO chunks (id, pack, offset, size) VALUES (?, ?, ?, ?)',
    );
  }

  /** Opens (creating if needed) a store under `root`. */
  static async open(root: string): Promise<DiskChunkStore> {
    await mkdir(join(root, 'packs'), { recursive: true });
    return new DiskChunkStore(root);
  }

  async has(ids: readonly ChunkId[]): Promise<Set<ChunkId>> {
    const present = new Set<ChunkId>();
    for (const id of ids) if (this.locate(id)) present.add(id);
    return present;
  }

  async sizes(ids: readonly ChunkId[]): Promise<Map<ChunkId, number>> {
    const out = new Map<ChunkId, number>();
    for (const id of ids) {
      const location = this.locate(id);
      if (location) out.set(id, location.size);
    }
    return out;
  }

  /**
   * Forgets chunks, then removes each pack none of whose chunks is left (a pack is written
   * once and never rewritten, so a pack that still holds a live chunk keeps its dead bytes
   * until a future compaction). The index change is durable before any pack goes.
   */
  async delete(ids: readonly ChunkId[]): Promise<void> {
    await this.syncing; // (a sync under way would index what is being deleted)
    const packs = new Set<string>();
    const remove = this.index.prepare('DELETE FROM chunks WHERE id = ? RETURNING pack');
    this.index.transaction(() => {
      for (const id of ids) {
        const unsynced = this.unsynced.get(id);
        if (unsynced) {
          this.unsynced.delete(id);
          packs.add(unsynced.pack);
        }
        const row = remove.get(id) as { pack: string } | undefined;
        if (row) packs.add(row.pack);
      }
    })();
    await this.indexDurability.sync();
    const live = this.index.prepare('SELECT 1 FROM chunks WHERE pack = ? LIMIT 1');
    const pending = new Set([...this.unsynced.values()].map((l) => l.pack));
    for (const pack of packs) {
      if (pending.has(pack) || this.flushing.has(pack) || live.get(pack)) continue;
      const reader = this.readers.get(pack);
      this.readers.delete(pack);
      await reader?.then((h) => h.close()).catch(() => undefined);
      await unlink(join(this.root, 'packs', pack)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  }

  /** Where a chunk is: durable (in the index) or written and waiting for `sync`. */
  private locate(id: ChunkId): Location | undefined {
    return this.unsynced.get(id) ?? this.lookup.get(id);
  }

  async put(chunks: readonly StoredChunk[]): Promise<void> {
    await this.write(chunks);
    await this.sync();
  }

  async write(chunks: readonly StoredChunk[]): Promise<void> {
    const fresh = new Map<ChunkId, ChunkBytes>();
    const waits: Promise<void>[] = [];
    for (const { id, bytes } of chunks) {
      if (fresh.has(id)) continue;
      const pending = this.inFlight.get(id);
      if (pending) waits.push(pending);
      else if (!this.locate(id)) fresh.set(id, bytes);
    }
    if (fresh.size > 0) {
      const written = this.writePack(fresh);
      const settled = written.catch(() => undefined);
      for (const id of fresh.keys()) this.inFlight.set(id, settled);
      try {
        await written;
      } finally {
        for (const id of fresh.keys()) this.inFlight.delete(id);
      }
    }
    // Another write had some of these under way: stored only once it is.
    await Promise.all(waits);
    for (const { id } of chunks) {
      if (!this.locate(id)) throw new Error(`chunk ${id} could not be stored`);
    }
  }

  /**
   * Makes every written chunk durable: one fsync per pack written since the last sync, one of
   * the folder, then one index transaction. Syncs run one after another, so a sync that
   * returns covers every write that finished before it was called.
   */
  sync(): Promise<void> {
    const run = this.syncing.then(() => this.syncNow());
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async syncNow(): Promise<void> {
    if (this.unsynced.size === 0) return;
    const batch = [...this.unsynced];
    const packs = new Set(batch.map(([, location]) => location.pack));
    const lost = new Set<string>();
    await Promise.all(
      [...packs].map(async (pack) => {
        const flushed = this.flushing.get(pack) ?? fsyncPath(join(this.root, 'packs', pack));
        this.flushing.delete(pack);
        // A failed fsync may have dropped the bytes, and a second fsync would not say so:
        // such a pack's chunks are forgotten (missing, to be uploaded again), never indexed.
        await flushed.catch(() => lost.add(pack));
      }),
    );
    await fsyncPath(join(this.root, 'packs'));
    // Only now, with the bytes durable, does the index name them.
    this.index.transaction(() => {
      for (const [id, { pack, offset, size }] of batch)
        if (!lost.has(pack)) this.insert.run(id, pack, offset, size);
    })();
    await this.indexDurability.sync();
    for (const [id, location] of batch)
      if (this.unsynced.get(id) === location) this.unsynced.delete(id);
  }

  private async writePack(chunks: ReadonlyMap<ChunkId, ChunkBytes>): Promise<void> {
    const pack = `${randomUUID()}.pack`;
    const handle = await open(
      join(this.root, 'packs', pack),
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY,
      0o644,
    );
    const locations: [ChunkId, Location][] = [];
    try {
      let offset = 0;
      const all: Uint8Array[] = [];
      for (const [id, bytes] of chunks) {
        let size = 0;
        for (const part of partsOf(bytes)) {
          size += part.length;
          all.push(part);
        }
        locations.push([id, { pack, offset, size }]);
        offset += size;
      }
      // Many chunks per system call (small chunks would cost one write each).
      for (let i = 0, position = 0; i < all.length; i += WRITEV_BUFFERS) {
        const group = all.slice(i, i + WRITEV_BUFFERS);
        const size = group.reduce((n, b) => n + b.length, 0);
        const { bytesWritten } = await handle.writev(group, position);
        if (bytesWritten !== size) await writeRest(handle, group, bytesWritten, position);
        position += size;
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    // The pack starts on its way to the disk now, while more uploads arrive; `sync` waits for
    // it rather than paying for all the writing at commit time.
    const flushed = handle.sync().finally(() => handle.close());
    flushed.catch(() => undefined); // a failure is seen by the sync that waits for it
    this.flushing.set(pack, flushed);
    for (const [id, location] of locations) this.unsynced.set(id, location);
  }

  async get(id: ChunkId): Promise<Buffer | undefined> {
    const location = this.locate(id);
    return location ? this.readRun(location) : undefined;
  }

  /**
   * Reads chunks in order, with neighbours in a pack (the chunks of one upload) read in one
   * call, and the next run read while the current one is being sent.
   */
  async *getMany(ids: readonly ChunkId[], reuse?: BufferPool): AsyncIterable<Buffer | undefined> {
    // A run is neighbouring chunks read in one call; an id not stored is a run of its own.
    const runs: { location: Location | undefined; ids: number }[] = [];
    const locations = ids.map((id) => this.locate(id));
    for (let i = 0; i < ids.length;) {
      const first = locations[i];
      if (!first) {
        runs.push({ location: undefined, ids: 1 });
        i++;
        continue;
      }
      const run = { location: { ...first }, ids: 1 };
      for (i++; i < ids.length; i++) {
        const next = locations[i];
        const { location } = run;
        if (
          !next ||
          next.pack !== location.pack ||
          next.offset !== location.offset + location.size ||
          location.size + next.size > READ_RUN_BYTES
        )
          break;
        location.size += next.size;
        run.ids++;
      }
      runs.push(run);
    }
    const read = (run: { location: Location | undefined }) =>
      run.location ? this.readRun(run.location, reuse) : Promise.resolve(undefined);
    // A buffer from `reuse` is let go once its run is yielded (or the caller stopped).
    const done = (bytes: Buffer | undefined) => {
      if (bytes && reuse?.lends(bytes)) reuse.release(bytes);
    };
    let pending = runs.length > 0 ? read(runs[0]!) : undefined;
    let bytes: Buffer | undefined;
    let k = 0;
    try {
      for (let r = 0; r < runs.length; r++) {
        const { location: run, ids: count } = runs[r]!;
        bytes = await pending;
        pending = r + 1 < runs.length ? read(runs[r + 1]!) : undefined;
        pending?.catch(() => undefined); // awaited on the next turn; never unhandled meanwhile
        for (let n = 0; n < count; n++, k++) {
          const location = locations[k];
          const start = run && location ? location.offset - run.offset : 0;
          yield bytes && location ? bytes.subarray(start, start + location.size) : undefined;
        }
        done(bytes);
        bytes = undefined;
      }
    } finally {
      done(bytes);
      pending?.then(done, () => undefined);
    }
  }

  /**
   * Reads bytes of a pack, into a buffer of `reuse` if they fit; if the cached handle was
   * closed under us (evicted), uses its own.
   */
  private async readRun(location: Location, reuse?: BufferPool): Promise<Buffer> {
    const into =
      reuse && location.size <= reuse.size
        ? reuse.take().subarray(0, location.size)
        : Buffer.allocUnsafe(location.size);
    try {
      try {
        await readAt(await this.packHandle(location.pack), location, into);
      } catch {
        const handle = await open(join(this.root, 'packs', location.pack), constants.O_RDONLY);
        try {
          await readAt(handle, location, into);
        } finally {
          await handle.close();
        }
      }
    } catch (error) {
      if (reuse?.lends(into)) reuse.release(into);
      throw error;
    }
    return into;
  }

  /**
   * An open handle on a pack, kept for the next reads: a download of many chunks from one
   * pack costs one open, not one per chunk. Packs are never rewritten, so a cached handle
   * never reads stale bytes.
   */
  private packHandle(pack: string): Promise<FileHandle> {
    let handle = this.readers.get(pack);
    if (handle) {
      this.readers.delete(pack); // most recently used last
    } else {
      handle = open(join(this.root, 'packs', pack), constants.O_RDONLY);
      handle.catch(() => this.readers.delete(pack));
      while (this.readers.size >= OPEN_PACKS) {
        const [oldest, stale] = this.readers.entries().next().value!;
        this.readers.delete(oldest);
        // Reads already started on it finish first: closing waits for them in Node.
        void stale.then((h) => h.close()).catch(() => undefined);
      }
    }
    this.readers.set(pack, handle);
    return handle;
  }

  /** The index's count and sum, plus the chunks written and waiting for the next sync. */
  async usage(): Promise<StoreUsage> {
    const row = this.index
      .prepare('SELECT count(*) AS chunks, coalesce(sum(size), 0) AS bytes FROM chunks')
      .get() as StoreUsage;
    let { chunks, bytes } = row;
    for (const location of this.unsynced.values()) {
      chunks++;
      bytes += location.size;
    }
    return { chunks, bytes };
  }

  /**
   * The packs folder is there, a folder, and readable and writable by this process; the index
   * answers a query. (A folder removed under a running hub is the common failure: a disk
   * unmounted, a data directory deleted or restored over.)
   */
  async check(): Promise<void> {
    const packs = join(this.root, 'packs');
    const info = await stat(packs);
    if (!info.isDirectory()) throw new Error(`${packs} is not a folder`);
    await access(packs, constants.R_OK | constants.W_OK | constants.X_OK);
    // The index file may be gone while SQLite keeps it open: then writes would vanish.
    await access(join(this.root, 'index.db'), constants.R_OK | constants.W_OK);
    this.index.prepare('SELECT 1 FROM chunks LIMIT 1').get();
  }

  async close(): Promise<void> {
    await this.sync();
    const readers = [...this.readers.values()];
    this.readers.clear();
    await Promise.all(
      readers.map((h) => h.then((handle) => handle.close()).catch(() => undefined)),
    );
    await this.indexDurability.close();
    this.index.close();
  }
}

/**
 * Brings the index's schema up to date (`PRAGMA user_version`, one step per version, each in
 * a transaction): 1 is the chunks table, 2 adds an index by pack, which deleting chunks needs
 * to find packs with nothing left in them. Refuses an index from a newer Tandem.
 */
function migrateIndex(index: Database.Database, file: string): void {
  const steps = [
    'CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID',
    'CREATE INDEX IF NOT EXISTS chunks_pack ON chunks (pack)',
  ];
  const version = Number(index.pragma('user_version', { simple: true }));
  if (version > steps.length)
    throw new Error(
      `${file} was written by a newer version of Tandem (index version ${version}); upgrade this hub`,
    );
  for (let v = version; v < steps.length; v++) {
    index.transaction(() => {
      index.exec(steps[v]!);
      index.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** Finishes a short vectored write, buffer by buffer. */
async function writeRest(
  handle: FileHandle,
  buffers: readonly Uint8Array[],
  done: number,
  position: number,
): Promise<void> {
  let at = 0;
  for (const buffer of buffers) {
    const start = Math.max(0, done - at);
    for (let written = start; written < buffer.length;) {
      written += (
        await handle.write(buffer, written, buffer.length - written, position + at + written)
      ).bytesWritten;
    }
    at += buffer.length;
  }
}

async function readAt(handle: FileHandle, location: Location, bytes: Buffer): Promise<void> {
  let read = 0;
  while (read < location.size) {
    const n = (await handle.read(bytes, read, location.size - read, location.offset + read))
      .bytesRead;
    if (n === 0) throw new Error(`pack ${location.pack} is shorter than its index says`);
    read += n;
  }
}

/** fsync of a file or a folder, by path. */
async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

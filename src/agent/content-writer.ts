/**
 * Writing a file's bytes from its list of chunks, into a temporary file: neighbouring chunks
 * that a local file already holds are copied in spans, the rest is fetched from the hub in
 * runs, several at once, each written at its place. Downloads use it, and so does the
 * prefetcher, which writes a file another device is still uploading.
 */
import type { Spellings } from '../core/local-names.js';
import { randomBytes } from 'node:crypto';
import { BufferPool } from '../core/buffer-pool.js';
import { forEachLimited } from '../core/concurrency.js';
import { HashWorker, sharedBuffer } from '../core/hash-worker.js';
import { chunkIdOf, chunkIdOfParts, type ChunkRef } from '../core/hashing.js';
import type { ChunkId } from '../core/ids.js';
import { ancestorsOf } from '../core/paths.js';
import type { FileSystem, ReadHandle, WriteHandle } from '../fs/file-system.js';
import type { HubClient } from './hub-client.js';
import { absolute, hashStillValid } from './scanner.js';
import { PathProblem } from './path-problem.js';
import type { HashRecord, StateStore } from './state-store.js';

/** (Defined on its own, so that light modules can use it; most code takes it from here.) */
export { PathProblem };

const DOWNLOAD_RUN_BYTES = 32 * 1024 * 1024;
/** Runs of one large file fetched at once. */
const PARALLEL_RUNS = 4;
/** Bytes of one run's chunks being written while more arrive. */
const WRITES_AHEAD_BYTES = 4 * 1024 * 1024;
/** A large file is flushed to disk every this many bytes. */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;
/** Neighbouring local chunks are copied in reads of up to this many bytes. */
const LOCAL_SPAN_BYTES = 8 * 1024 * 1024;
/** Spans copied at once (one is hashed while the next is read). */
const SPANS_AHEAD = 2;
/** Spans of at least this many bytes are hashed on the worker thread. */
const THREADED_SPAN_BYTES = 1024 * 1024;
/** Hashes the chunks copied from local files, off the main thread. */
const spanHasher = new HashWorker();
/** Read buffers of shared memory for the spans it hashes, reused. */
const spanPool = new BufferPool(LOCAL_SPAN_BYTES, SPANS_AHEAD + 1, sharedBuffer);

export interface ContentWriterOptions {
  readonly fs: FileSystem;
  readonly root: string;
  readonly store: StateStore;
  readonly client: HubClient;
  readonly workspaceId: string;
  /** How the disk spells workspace paths (the last scan's); as the workspace when absent. */
  readonly spellings?: (() => Spellings) | undefined;
}

/** The path on disk (relative) of a workspace path, as the last scan found it spelled. */
export function diskPathOf(
  options: { readonly spellings?: (() => Spellings) | undefined },
  path: string,
): string {
  return options.spellings ? options.spellings().toDisk(path) : path;
}

/**
 * A temporary file being written at positions. A large one is flushed as it grows, so the
 * fsync before its rename has little left to write; a failed early flush fails the file (a
 * later fsync might not report it).
 */
export class TempFile {
  /** Names unique in this process (the agent empties its temporary folder when it starts). */
  private static readonly prefix = randomBytes(4).toString('hex');
  private static count = 0;

  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private flushError: unknown;

  constructor(
    readonly path: string,
    readonly handle: WriteHandle,
  ) {}

  /**
   * Creates a new, empty temporary file in `dir`, readable by its owner only until the file's
   * own mode is set (`setMeta`): a private file is never readable by others on the way.
   */
  static async create(fs: FileSystem, dir: string): Promise<TempFile> {
    const path = `${dir}/${TempFile.prefix}-${(TempFile.count++).toString(36)}`;
    return new TempFile(path, await fs.createWrite(path, 0o600));
  }

  /** Writes `bytes` (one buffer, or parts one after another) at `position`. */
  async writeAt(bytes: Uint8Array | readonly Uint8Array[], position: number): Promise<void> {
    await this.handle.writeAt(bytes, position);
    this.unflushed +=
      bytes instanceof Uint8Array ? bytes.length : bytes.reduce((n, b) => n + b.length, 0);
    if (this.unflushed < FLUSH_EVERY_BYTES || this.flushing) return;
    this.unflushed = 0;
    this.flushing = this.handle
      .sync()
      .catch((error: unknown) => {
        this.flushError ??= error;
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  /** Waits for an early flush under way (never leave one running on a handle being closed). */
  async settle(): Promise<void> {
    await this.flushing;
  }

  /** Waits for an early flush under way; throws if any failed. */
  async flushed(): Promise<void> {
    await this.settle();
    if (this.flushError) throw this.flushError;
  }

  /** Makes everything written durable; throws if any flush failed. */
  async sync(): Promise<void> {
    await this.flushed();
    await this.handle.sync();
  }

  /** Closes the handle and removes the file (when it is not wanted after all). */
  async discard(fs: FileSystem): Promise<void> {
    await this.settle();
    await this.handle.close().catch(() => undefined);
    await fs.unlink(this.path).catch(() => undefined);
  }
}

export class ContentWriter {
  constructor(private readonly options: ContentWriterOptions) {}

  /**
   * Writes `chunks`, the first at byte `start`, into `out`: from local files where possible,
   * else from the hub (chunks in `fetched` are already here, checked against their ids).
   * Every chunk written has exactly the length and the hash its ref names: one copied from a
   * local file that does not is downloaded instead, and one from the hub that does not fails
   * the write. Fetched bytes are added to `counter.downloaded`. Throws PathProblem when a
   * chunk arrives wrong or a local file read from changed during the copy.
   */
  async write(
    out: TempFile,
    chunks: readonly ChunkRef[],
    start: number,
    fetched: ReadonlyMap<ChunkId, Uint8Array>,
    counter: { downloaded: number },
  ): Promise<void> {
    const runs: { chunks: ChunkRef[]; positions: number[]; bytes: number }[] = [];
    const download = (chunk: ChunkRef, position: number) => {
      let run = runs.at(-1);
      if (!run || run.bytes >= DOWNLOAD_RUN_BYTES) {
        run = { chunks: [], positions: [], bytes: 0 };
        runs.push(run);
      }
      run.chunks.push(chunk);
      run.positions.push(position);
      run.bytes += chunk.size;
    };
    const sources: ChunkSources = new Map();
    // Neighbouring chunks of one local file that stay neighbours here are copied in one read
    // and one write (a file edited in the middle is mostly such spans). What cannot be read
    // is downloaded instead.
    let span: Span | undefined;
    // Spans are read, checked and written two at a time: one is hashed (on the worker thread
    // when large) while the next is read.
    const copying = new Set<Promise<void>>();
    let failure: unknown;
    const copySpan = async () => {
      if (!span) return;
      const job = this.copySpan(out, span, download).catch((error: unknown) => {
        failure ??= error;
      });
      span = undefined;
      copying.add(job);
      void job.then(() => copying.delete(job));
      if (copying.size >= SPANS_AHEAD) await Promise.race(copying);
      if (failure) throw failure;
    };
    let position = start;
    try {
      for (const chunk of chunks) {
        const fetchedBytes = fetched.get(chunk.id);
        const local = fetchedBytes ? undefined : await this.localSource(chunk, sources);
        if (
          local &&
          span?.source === local.source &&
          span.from + span.size === local.offset &&
          span.size + chunk.size <= LOCAL_SPAN_BYTES
        ) {
          span.size += chunk.size;
          span.chunks.push(chunk);
        } else {
          await copySpan();
          if (local)
            span = {
              source: local.source,
              from: local.offset,
              to: position,
              size: chunk.size,
              chunks: [chunk],
            };
          else if (fetchedBytes) {
            if (fetchedBytes.length !== chunk.size)
              throw new PathProblem(
                `the hub's manifest gives chunk ${chunk.id.slice(0, 12)} ${chunk.size} bytes, but it has ${fetchedBytes.length}; nothing written`,
              );
            await out.writeAt(fetchedBytes, position);
          } else download(chunk, position);
        }
        position += chunk.size;
      }
      await copySpan();
      await Promise.all(copying);
      if (failure) throw failure;
      await this.checkSources(sources);
      await forEachLimited(runs, PARALLEL_RUNS, (run) => this.fetchRun(out, run, counter));
    } finally {
      await Promise.all(copying); // (no copy may still write to a file about to be closed)
      await out.settle();
      for (const source of sources.values()) await source?.handle.close();
    }
  }

  /**
   * Copies a span of neighbouring chunks from a local file into `out`. Each chunk is hashed
   * again first: the hash cache says where a chunk was, not that it is still there (a record
   * made from a wrong manifest, or a change its stat cannot show). What does not read back
   * whole, or not as its id, is left to `download` instead.
   */
  private async copySpan(
    out: TempFile,
    { source, from, to, size, chunks }: Span,
    download: (chunk: ChunkRef, position: number) => void,
  ): Promise<void> {
    const threaded = size >= THREADED_SPAN_BYTES;
    const buffer = threaded ? spanPool.take() : Buffer.allocUnsafe(size);
    try {
      const bytes = buffer.subarray(0, size);
      const read = await readFully(source.handle, bytes, from).catch(() => -1);
      const lengths = chunks.map((c) => c.size);
      let ids: readonly ChunkId[] | undefined;
      if (read === size && threaded) ids = await spanHasher.ids(buffer, 0, lengths);
      else if (read === size) {
        const inline: ChunkId[] = [];
        for (let k = 0, at = 0; k < chunks.length; at += lengths[k]!, k++)
          inline.push(chunkIdOf(bytes.subarray(at, at + lengths[k]!)));
        ids = inline;
      }
      if (ids && ids.every((id, k) => id === chunks[k]!.id)) return await out.writeAt(bytes, to);
      for (let k = 0, at = 0; k < chunks.length; at += chunks[k]!.size, k++) {
        if (ids?.[k] === chunks[k]!.id)
          await out.writeAt(bytes.subarray(at, at + chunks[k]!.size), to + at);
        else download(chunks[k]!, to + at);
      }
    } finally {
      if (threaded) spanPool.release(buffer);
    }
  }

  /**
   * Fetches a run of chunks from the hub into `out`, each written in the parts it arrived in
   * (one vectored write, no copy into one buffer) while the next ones arrive: a few megabytes
   * of writes are in flight at most, and all have ended before this returns or throws (the
   * file is closed after).
   */
  private async fetchRun(
    out: TempFile,
    run: { chunks: ChunkRef[]; positions: number[] },
    counter: { downloaded: number },
  ): Promise<void> {
    const writes = new Set<Promise<void>>();
    let writing = 0;
    let failure: unknown;
    let k = 0;
    try {
      for await (const { id, parts, size } of this.options.client.fetchChunkParts(
        this.options.workspaceId,
        run.chunks.map((c) => c.id),
      )) {
        const chunk = run.chunks[k];
        if (id !== chunk?.id)
          throw new PathProblem(`the hub sent chunk ${id.slice(0, 12)} out of order; will retry`);
        if (size !== chunk.size)
          throw new PathProblem(
            `the hub's manifest gives chunk ${id.slice(0, 12)} ${chunk.size} bytes, but it has ${size}; nothing written`,
          );
        if (chunkIdOfParts(parts) !== id)
          throw new PathProblem(`chunk ${id.slice(0, 12)} arrived corrupted; will retry`);
        const done = () => {
          writes.delete(write);
          writing -= size;
        };
        const write: Promise<void> = out.writeAt(parts, run.positions[k]!).then(done, (error) => {
          done();
          failure ??= error;
        });
        writes.add(write);
        writing += size;
        if (writing >= WRITES_AHEAD_BYTES) await Promise.race(writes);
        if (failure) throw failure;
        counter.downloaded += size;
        k++;
      }
    } finally {
      await Promise.all(writes);
    }
    if (failure) throw failure;
    if (k !== run.chunks.length)
      throw new PathProblem('the hub sent fewer chunks than asked; will retry');
  }

  /**
   * Where a chunk can be copied from locally, per the hash cache. The file is opened once per
   * write and only if its stat is still the one it was hashed at; the bytes are not hashed
   * again, because `checkSources` confirms afterwards that no file read from has changed (the
   * same stat rule the scanner trusts).
   */
  private async localSource(
    chunk: ChunkRef,
    sources: ChunkSources,
  ): Promise<{ source: ChunkSource; offset: number } | undefined> {
    const location = this.options.store.chunks.get(chunk.id);
    if (location?.size !== chunk.size) return undefined;
    let source = sources.get(location.path);
    if (source === undefined) {
      source = await this.openSource(location.path).catch(() => null);
      sources.set(location.path, source);
    }
    return source ? { source, offset: location.offset } : undefined;
  }

  private async openSource(path: string): Promise<ChunkSource | null> {
    const { fs, root, store } = this.options;
    await checkAncestors(fs, root, path, (p) => diskPathOf(this.options, p));
    const handle = await fs.openRead(absolute(root, diskPathOf(this.options, path)));
    let source: ChunkSource | null = null;
    try {
      const record = store.hashes.get(path);
      if (record && hashStillValid(record, await handle.stat())) source = { handle, record };
    } finally {
      if (!source) await handle.close();
    }
    return source;
  }

  /** Throws unless every file chunks were copied from still is as it was hashed. */
  private async checkSources(sources: ChunkSources): Promise<void> {
    for (const [path, source] of sources) {
      if (!source) continue;
      const now = await this.options.fs.lstat(
        absolute(this.options.root, diskPathOf(this.options, path)),
      );
      if (!now || !hashStillValid(source.record, now))
        throw new PathProblem(`${path} changed while chunks were copied from it; will retry`);
    }
  }
}

/** Every ancestor of `path` must be a real folder (not a link): nothing is written through links. */
export async function checkAncestors(
  fs: FileSystem,
  root: string,
  path: string,
  toDisk: (path: string) => string = (p) => p,
): Promise<void> {
  for (const ancestor of ancestorsOf(path)) {
    const stat = await fs.lstat(absolute(root, toDisk(ancestor)));
    if (stat && stat.kind !== 'dir') {
      throw new PathProblem(
        `${ancestor} is a ${stat.kind === 'symlink' ? 'symbolic link' : stat.kind}, not a folder: nothing is written through it`,
      );
    }
    if (!stat) return; // missing: nothing below exists either
  }
}

/** Neighbouring chunks of one local file, to copy in one read and one write. */
interface Span {
  readonly source: ChunkSource;
  readonly from: number;
  readonly to: number;
  size: number;
  readonly chunks: ChunkRef[];
}

/** Files chunks are copied from during one write (null: not usable). */
type ChunkSources = Map<string, ChunkSource | null>;
interface ChunkSource {
  readonly handle: ReadHandle;
  readonly record: HashRecord;
}

/** Reads until `into` is full or the file ends; returns how many bytes were read. */
export async function readFully(
  handle: ReadHandle,
  into: Uint8Array,
  position: number,
): Promise<number> {
  let total = 0;
  while (total < into.length) {
    const n = await handle.read(into, total, into.length - total, position + total);
    if (n === 0) break;
    total += n;
  }
  return total;
}

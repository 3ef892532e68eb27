/**
 * Fetching a large file while another device is still uploading it, from that device's upload
 * previews, so the download overlaps the upload instead of following it. The chunks go in
 * their places in a temporary file in `.tandem/tmp` (those a local file holds are copied, as
 * in a download). When the commit arrives, the download of that path takes the temporary file
 * over: it keeps the part that matches the committed manifest and writes the rest, then
 * fsyncs, checks and renames as always. Nothing here touches the synced folder, and nothing
 * staged is used unless a commit names the same chunks.
 */
import type { ChunkRef } from '../core/hashing.js';
import type { ChunkId } from '../core/ids.js';
import type { FileSystem } from '../fs/file-system.js';
import type { UploadPreview } from '../protocol/api.js';
import { TempFile, type ContentWriter } from './content-writer.js';
import { isDiskRefusal, KEEP_FREE_BYTES } from './local-errors.js';

/** Files staged at once; previews of further files are passed over. */
const MAX_STAGED = 2;
/**
 * Previews of one file fetched at once: one fetch's round trips and disk writes overlap the
 * next one's transfer and checks, so the receiver keeps pace with the uploader.
 */
const FETCHES_AHEAD = 2;
/** A staged file that no commit claims is dropped after this long without a preview. */
export const STAGE_IDLE_MS = 2 * 60_000;

/** What a download takes over: a temporary file whose first bytes are `chunks`, in order. */
export interface StagedFile {
  readonly file: TempFile;
  readonly chunks: readonly ChunkRef[];
  /** The furthest byte written (a write that failed may have gone past the chunks). */
  readonly extent: number;
  /** Bytes fetched from the hub for it. */
  readonly downloaded: number;
}

interface Stage {
  readonly upload: string;
  file: TempFile | undefined;
  /** Resolves once the temporary file exists (or could not be made: `file` stays unset). */
  readonly created: Promise<void>;
  /** The chunks written, in order from the start of the file. */
  readonly chunks: ChunkRef[];
  /** Where the next preview must start. */
  next: number;
  extent: number;
  readonly counter: { downloaded: number };
  /** The writes under way (at most FETCHES_AHEAD), oldest first. */
  readonly writing: Promise<unknown>[];
  /** Every write's bookkeeping, chained in the order the previews came. */
  work: Promise<void>;
  /** No more writes start: a write failed, or a download took the file over. */
  stopped: boolean;
  /** A write failed: what was written after it has no place in `chunks`. */
  broken: boolean;
  /** A preview went missing: later ones are not taken (those before it are still written). */
  missed: boolean;
  /** The disk refused a write: the staged file is removed at once, not kept for the download. */
  letGo: boolean;
  timer: NodeJS.Timeout | undefined;
}

export interface PrefetcherOptions {
  readonly fs: FileSystem;
  readonly tmpDir: string;
  readonly writer: ContentWriter;
  readonly idleMs?: number;
}

export class Prefetcher {
  private readonly stages = new Map<string, Stage>();

  constructor(private readonly options: PrefetcherOptions) {}

  /**
   * Starts fetching what a preview names, after what earlier previews of the file named. The
   * promise resolves once that is written or given up (it never rejects).
   */
  offer(preview: UploadPreview): Promise<void> {
    let stage = this.stages.get(preview.path);
    if (stage && stage.upload !== preview.upload) {
      if (preview.at !== 0) return Promise.resolve(); // an upload this device did not follow
      void this.drop(preview.path); // the file is being read again from the start
      stage = undefined;
    }
    if (!stage) {
      if (preview.at !== 0 || this.stages.size >= MAX_STAGED) return Promise.resolve();
      stage = this.start(preview.upload, preview.size);
      this.stages.set(preview.path, stage);
    }
    if (stage.stopped || stage.missed) return Promise.resolve();
    const current = stage;
    if (preview.at !== current.next) {
      current.missed = true; // a preview went missing: what follows has no place
      return current.work;
    }
    const chunks = preview.chunks.map((c) => ({ id: c.id as ChunkId, size: c.size }));
    const bytes = chunks.reduce((sum, c) => sum + c.size, 0);
    current.next += bytes;
    const turn = current.writing.length >= FETCHES_AHEAD ? current.writing.shift() : undefined;
    const written = (async () => {
      await turn;
      await current.created;
      if (current.stopped || !current.file) return false;
      current.extent = Math.max(current.extent, preview.at + bytes);
      try {
        await this.options.writer.write(
          current.file,
          chunks,
          preview.at,
          new Map(),
          current.counter,
        );
        return true;
      } catch (error) {
        current.stopped = true; // the download will fetch what is not here
        // The disk is full (or refuses writes): what is staged must not hold it.
        if (isDiskRefusal(error)) current.letGo = true;
        return false;
      }
    })();
    current.writing.push(written);
    current.work = current.work.then(async () => {
      const ok = await written;
      if (!ok) current.broken = true;
      if (current.letGo && current.file) {
        await Promise.all(current.writing); // (no write may still use the file)
        const file = current.file;
        current.file = undefined;
        await file.discard(this.options.fs);
      }
      if (current.broken) return;
      current.chunks.push(...chunks);
    });
    this.arm(preview.path, current);
    return current.work;
  }

  /**
   * Takes over the staged file of `path`, if there is one: no more is written to it once this
   * resolves, and the caller owns the file (to finish, or to discard).
   */
  async take(path: string): Promise<StagedFile | undefined> {
    const stage = this.stages.get(path);
    if (!stage) return undefined;
    this.stages.delete(path);
    clearTimeout(stage.timer);
    stage.stopped = true;
    await stage.work;
    if (!stage.file) return undefined;
    return {
      file: stage.file,
      chunks: stage.chunks,
      extent: stage.extent,
      downloaded: stage.counter.downloaded,
    };
  }

  /** Drops every staged file (the agent is stopping). */
  async close(): Promise<void> {
    await Promise.all([...this.stages.keys()].map((path) => this.drop(path)));
  }

  /** A stage for a file of `size` bytes, if the disk has room for it (else one that is stopped). */
  private start(upload: string, size: number): Stage {
    const { fs, tmpDir } = this.options;
    const created = (async () => {
      const free = await fs.freeSpace(tmpDir).catch(() => undefined);
      // (No room: the download will say so, as a problem of its path.)
      if (free !== undefined && size + KEEP_FREE_BYTES > free) throw new Error('no room');
      return TempFile.create(fs, tmpDir);
    })().then(
      (file) => {
        stage.file = file;
      },
      () => {
        stage.stopped = true;
      },
    );
    const stage: Stage = {
      upload,
      file: undefined,
      created,
      chunks: [],
      next: 0,
      extent: 0,
      counter: { downloaded: 0 },
      writing: [],
      work: created,
      stopped: false,
      broken: false,
      missed: false,
      letGo: false,
      timer: undefined,
    };
    return stage;
  }

  /** (Re)starts the countdown after which an unclaimed staged file is dropped. */
  private arm(path: string, stage: Stage): void {
    clearTimeout(stage.timer);
    stage.timer = setTimeout(() => void this.drop(path), this.options.idleMs ?? STAGE_IDLE_MS);
    stage.timer.unref();
  }

  private async drop(path: string): Promise<void> {
    const staged = await this.take(path);
    await staged?.file.discard(this.options.fs);
  }
}

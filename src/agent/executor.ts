/**
 * The executor: applies a plan. It is the only code that changes the synced folder, and it
 * keeps DESIGN.md's safety rules:
 *
 * - before overwriting, renaming or deleting anything, it checks that the disk still holds
 *   exactly what the planner saw (kind, inode, size, mtime); a mismatch is a per-path
 *   problem and the path is planned again next round;
 * - it never writes through a symbolic link: every ancestor of a path it touches must be a
 *   real folder inside the synced folder;
 * - downloads go to a temporary file in `.tandem/tmp` (made 0o600: readable by nobody else
 *   on the way), get their exact mode (chmod, whatever the umask) and mtime, are made
 *   durable (an fsync each, or one syncfs for a big batch), and only then are renamed into
 *   place atomically; the renames are made durable before the new bases are recorded;
 * - a file is uploaded only if it reads back exactly as it was hashed (stable);
 * - folders are made 0o700 and then given their exact mode; a change of mode alone is a
 *   chmod of the file or folder in place.
 *
 * Nothing here is remembered across rounds but files fetched ahead of their commits (see
 * Prefetcher), which are only a cache: after a crash the planner starts again from the three
 * trees, and `.tandem/tmp` is emptied.
 */
import { caseKey, type Spellings } from '../core/local-names.js';
import { forEachLimited } from '../core/concurrency.js';
import { conflictedCopyPath } from '../core/conflict-name.js';
import {
  withoutMode,
  type BaseNode,
  type Entry,
  type FileEntry,
  type LocalNode,
  type RemoteNode,
} from '../core/entry.js';
import { chunkIdOf, type ChunkRef, type Manifest } from '../core/hashing.js';
import { checkManifest } from '../core/manifest-check.js';
import type { ChunkId, ContentId } from '../core/ids.js';
import { STATE_DIR } from '../core/ignore.js';
import {
  ancestorsOf,
  baseName,
  comparePaths,
  depthOf,
  isInside,
  joinPath,
  parentOf,
} from '../core/paths.js';
import {
  describeEntry,
  formatMode,
  type Change,
  type PullDelete,
  type PullMove,
  type PullPut,
  type PushDelete,
  type PushMove,
  type PushPut,
} from '../core/planner.js';
import {
  errorCode,
  type Barrier,
  type FileSystem,
  type ReadHandle,
  type Stat,
} from '../fs/file-system.js';
import { TandemError } from '../protocol/errors.js';
import {
  MAX_OPS_PER_COMMIT,
  type OpResult,
  type UploadPreview,
  type WireOp,
} from '../protocol/api.js';
import { ChunkUploader, UPLOAD_BATCH_BYTES } from './chunk-uploader.js';
import {
  checkAncestors,
  diskPathOf,
  ContentWriter,
  PathProblem,
  readFully,
  TempFile,
} from './content-writer.js';
import type { HubClient } from './hub-client.js';
import {
  describeLocalError,
  DiskProblem,
  diskProblem,
  isDiskRefusal,
  SpaceBudget,
} from './local-errors.js';
import { Prefetcher, type StagedFile } from './prefetcher.js';
import { absolute, trustedSince, type Collision, type Problem } from './scanner.js';
import type { HashRecord, StateStore } from './state-store.js';

export interface ExecutorOptions {
  readonly fs: FileSystem;
  readonly root: string;
  readonly store: StateStore;
  readonly client: HubClient;
  readonly workspaceId: string;
  readonly deviceName: string;
  readonly now: () => number;
  /** One line per action, for the person watching. */
  readonly log: (line: string) => void;
  /** Timings of the phases of big batches, when tracing. */
  readonly trace?: ((line: string) => void) | undefined;
  /**
   * How the disk spells workspace paths, from the last scan (see core/local-names.ts): what
   * the hub sends for a path is written to the name that is there. As the workspace when
   * absent; kept current across the renames this executor makes.
   */
  readonly spellings?: (() => Spellings) | undefined;
  /** True when the disk looks names up without regard to case (see FileSystem). */
  readonly caseInsensitive?: (() => boolean) | undefined;
}

export interface ExecutionResult {
  /** Changes that took effect. */
  applied: number;
  problems: Problem[];
  /** Bytes of chunk data sent and received. */
  uploaded: number;
  downloaded: number;
  /** Paths written that no change names (conflicted copies): the next scan must see them. */
  touched: string[];
}

/** Puts are committed in groups of at most this many files or bytes. */
const PUSH_GROUP_FILES = 1000;
const PUSH_GROUP_BYTES = 64 * 1024 * 1024;
const PARALLEL_DOWNLOADS = 16;
/** Files up to this size are downloaded in batches (many per request). */
const SMALL_FILE_BYTES = 1024 * 1024;
const SMALL_BATCH_FILES = 2000;
const SMALL_BATCH_BYTES = 32 * 1024 * 1024;
/**
 * Batches of at least this many files are made durable by a barrier over the filesystem
 * (syncfs), not by an fsync per file and per folder: a syncfs costs about as much as 30
 * fsyncs of small files here.
 */
const BARRIER_BATCH_FILES = 32;
/** A file refused for the owner's quota is tried again at most this often (space may be freed elsewhere). */
const QUOTA_RETRY_MS = 60_000;

/**
 * The bytes of small files exactly as a scan hashed them, up to a byte budget. An upload takes
 * its chunks from here instead of reading the file again: they are the hashed bytes.
 */
export class ContentCache {
  private readonly byPath = new Map<string, { contentId: ContentId; bytes: Uint8Array }>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  keep(path: string, contentId: ContentId, bytes: Uint8Array): void {
    if (this.bytes + bytes.length > this.budget) return;
    this.byPath.set(path, { contentId, bytes });
    this.bytes += bytes.length;
  }

  /** The bytes hashed for `path`, if they are those of `contentId`. */
  get(path: string, contentId: ContentId): Uint8Array | undefined {
    const kept = this.byPath.get(path);
    return kept?.contentId === contentId ? kept.bytes : undefined;
  }
}

/** Where each chunk can be read locally: a file whose hash is cached, at an offset. */
type LocalChunks = StateStore['chunks'];

/**
 * Throws unless `stat` describes the node the scan recorded (for a file: unchanged too). A
 * file's hash record, when it is the one the scan took that node from, has its times to the
 * nanosecond, the ctime among them: a file rewritten since with its size and mtime put back
 * is caught too.
 */
function checkScanned(
  path: string,
  stat: Stat | undefined,
  expected: LocalNode,
  record: HashRecord | undefined,
  modes: boolean,
): void {
  const entry = expected.entry;
  const same =
    stat !== undefined &&
    stat.ino === expected.ino &&
    stat.kind === entry.kind &&
    // (A chmod since the scan is a change too; a link has no mode of its own. Against a hub
    // without modes, the scan's modes are the ones that hub is taken to hold: see the engine.)
    (!modes || entry.kind === 'symlink' || stat.mode === entry.mode) &&
    (entry.kind !== 'file' ||
      (stat.size === entry.size &&
        stat.mtimeMs === entry.mtime &&
        (record?.ino !== expected.ino ||
          record.contentId !== entry.contentId ||
          (record.ctimeNs === stat.ctimeNs && record.mtimeNs === stat.mtimeNs))));
  if (!same) throw new PathProblem(`${path} changed locally since the scan; will look again`);
}

/** A folder or link put in place, waiting for its folder's fsync and its record. */
interface PlacedNonFile {
  readonly change: PullPut;
  readonly ino: number;
  /** False when a folder was already there (nothing new to make durable). */
  readonly made: boolean;
  /**
   * A folder whose mode does not let its owner write in it or enter it (0o500, say), left
   * 0o700 until the round's files are placed inside, then given its mode and recorded.
   */
  readonly lateMode?: number;
}

/** Owner write and search: what the agent needs of a folder to place files in it. */
const OWNER_WX = 0o300;

/**
 * A pull that changes nothing but a file's mode: the file here has the hub's bytes and
 * mtime. It is applied with a chmod in place, not a new copy.
 */
function modeOnly(change: PullPut): boolean {
  const local = change.local?.entry;
  const remote = change.remote.entry;
  return (
    local?.kind === 'file' &&
    remote.kind === 'file' &&
    local.contentId === remote.contentId &&
    local.size === remote.size &&
    local.mtime === remote.mtime
  );
}

/** A downloaded file, in its temporary file, then renamed into place and waiting for its record. */
interface Download {
  readonly change: PullPut;
  readonly stat: Stat;
  readonly manifest: Manifest;
  readonly temp: string;
}

export class Executor {
  /** Why the hub's manifest of a content was refused, for the pull under way. */
  private readonly refusedManifests = new Map<ContentId, string>();
  private readonly tmpDir: string;
  private readonly writer: ContentWriter;
  /** Files other devices are uploading, fetched ahead of their commits. */
  private readonly prefetcher: Prefetcher;

  constructor(private readonly options: ExecutorOptions) {
    this.tmpDir = absolute(options.root, `${STATE_DIR}/tmp`);
    this.writer = new ContentWriter(options);
    this.prefetcher = new Prefetcher({ fs: options.fs, tmpDir: this.tmpDir, writer: this.writer });
  }

  /** Another device is uploading a large file: start fetching it (see Prefetcher). */
  preview(preview: UploadPreview): Promise<void> {
    return this.prefetcher.offer(preview);
  }

  /** Drops what was fetched ahead and not used. */
  close(): Promise<void> {
    return this.prefetcher.close();
  }

  private abs(path: string): string {
    return absolute(this.options.root, diskPathOf(this.options, path));
  }

  /** Applies the changes of one plan. Never throws for a per-path failure. */
  async execute(
    changes: readonly Change[],
    contents: ContentCache = new ContentCache(0),
  ): Promise<ExecutionResult> {
    const result: ExecutionResult = {
      applied: 0,
      problems: [],
      uploaded: 0,
      downloaded: 0,
      touched: [],
    };
    const byType = <T extends Change['type']>(type: T) =>
      changes.filter((c): c is Extract<Change, { type: T }> => c.type === type);

    for (const change of byType('pull-move'))
      await this.guarded(change.from, result, () => this.pullMove(change));
    const pushMoves = byType('push-move');
    if (pushMoves.length > 0) await this.pushMoves(pushMoves, result);

    const pulls: PullPut[] = [...byType('pull-put')];
    for (const change of byType('conflict')) {
      await this.guarded(change.path, result, async () => {
        await this.forkConflict(change.path, change.local, change.remote, result);
        // The path is free now: the hub's version goes there.
        pulls.push({
          type: 'pull-put',
          path: change.path,
          remote: change.remote,
          local: undefined,
        });
      });
    }
    const pushes = [...byType('push-delete'), ...byType('push-put')];
    if (pushes.length > 0) await this.push(pushes, result, contents);
    const deletes = byType('pull-delete').sort(
      (a, b) => depthOf(b.path) - depthOf(a.path) || comparePaths(b.path, a.path),
    );
    for (const change of deletes)
      await this.guarded(change.path, result, () => this.pullDelete(change));
    if (pulls.length > 0) await this.pull(pulls, result);
    const records = byType('record');
    if (records.length > 0) {
      this.options.store.batch(() => {
        for (const change of records) this.options.store.setBase(change.path, change.base);
      });
      result.applied += records.length;
    }
    return result;
  }

  /** Runs one path's work; a failure becomes a problem for that path. */
  private async guarded(
    path: string,
    result: ExecutionResult,
    work: () => Promise<void>,
    /** False for the first step of a change (its success is counted once, by the last). */
    last = true,
  ): Promise<boolean> {
    try {
      await work();
      if (last) result.applied++;
      return true;
    } catch (caught) {
      // No write access is not this path's problem: the engine turns the device read-only.
      if (caught instanceof TandemError && caught.code === 'FORBIDDEN') throw caught;
      // The state database failing (its disk full, say) is not this path's: the round stops.
      if (errorCode(caught)?.startsWith('SQLITE_')) throw caught;
      // A write the disk refused, said in words, and looked at again soon.
      const error =
        !(caught instanceof PathProblem) && isDiskRefusal(caught)
          ? await diskProblem(this.options.fs, this.options.root, caught)
          : caught;
      const message =
        error instanceof PathProblem || (error instanceof Error && error.name === 'TandemError')
          ? (error as Error).message
          : describeLocalError(error, this.options.root);
      result.problems.push(
        error instanceof DiskProblem
          ? { path, message, retryWithinMs: error.retryWithinMs }
          : { path, message },
      );
      this.decide(path, 'problem', message);
      if (
        !(error instanceof PathProblem) &&
        !errorCode(error) &&
        !(error instanceof Error && error.name === 'TandemError')
      ) {
        throw error; // a programmer error: do not hide it
      }
      return false;
    }
  }

  private decide(path: string, action: string, detail: string): void {
    this.options.store.logDecision(path, action, detail, this.options.now());
  }

  private explain(
    change: { local?: LocalNode | undefined; remote?: RemoteNode | undefined },
    path: string,
  ): string {
    const base = this.options.store.base.get(path);
    return `base: ${describeEntry(base?.entry)}${base ? ` @${base.seq}` : ''}; local: ${describeEntry(change.local?.entry)}; remote: ${describeEntry(change.remote?.entry)}${change.remote ? ` @${change.remote.seq}` : ''}`;
  }

  // Guards.

  /** Throws unless the disk holds exactly `expected` at `path` (undefined: nothing). */
  private async expect(path: string, expected: LocalNode | undefined): Promise<void> {
    await checkAncestors(this.options.fs, this.options.root, path, (p) =>
      diskPathOf(this.options, p),
    );
    await this.expectAt(path, expected);
  }

  /**
   * `expect` for a path about to be written, whose folders must then exist: when nothing is
   * expected there, missing folders are made first (each checked to be a real folder, as
   * `expect` checks them), so that each folder is looked at once, not twice.
   */
  private async expectToWrite(path: string, expected: LocalNode | undefined): Promise<void> {
    // (Something expected there means its folders exist, and `expect` checks them.)
    if (expected) return this.expect(path, expected);
    await this.ensureParents(path);
    await this.expectAt(path, undefined);
  }

  /** `expect` without the check of the folders above `path`. */
  private async expectAt(path: string, expected: LocalNode | undefined): Promise<void> {
    const stat = await this.options.fs.lstat(this.abs(path));
    if (!expected) {
      if (stat) throw new PathProblem(`${path} appeared locally since the scan; will look again`);
      return;
    }
    checkScanned(
      path,
      stat,
      expected,
      this.options.store.hashes.get(path),
      this.options.client.hubModes,
    );
  }

  /**
   * Opens a file to read it as the scan hashed it: through real folders, and only if the
   * file opened is the very one scanned, unchanged. Checking the open descriptor rather than
   * the path leaves no moment in which the path could be swapped for another file, and costs
   * no path lookup; `stillScanned` checks the descriptor again once it has been read.
   */
  private async openScanned(path: string, expected: LocalNode): Promise<ReadHandle> {
    await checkAncestors(this.options.fs, this.options.root, path, (p) =>
      diskPathOf(this.options, p),
    );
    const handle = await this.options.fs.openRead(this.abs(path));
    try {
      await this.stillScanned(path, handle, expected);
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private async stillScanned(path: string, handle: ReadHandle, expected: LocalNode): Promise<void> {
    checkScanned(
      path,
      await handle.stat(),
      expected,
      this.options.store.hashes.get(path),
      this.options.client.hubModes,
    );
  }

  /** Creates the missing ancestors of `path` as real folders. */
  private async ensureParents(path: string): Promise<void> {
    for (const ancestor of ancestorsOf(path)) {
      const full = this.abs(ancestor);
      let stat = await this.options.fs.lstat(full);
      if (!stat) {
        try {
          await this.options.fs.mkdir(full);
        } catch (error) {
          if (errorCode(error) !== 'EEXIST') throw error;
        }
        stat = await this.options.fs.lstat(full);
      }
      if (!stat || stat.kind !== 'dir') {
        throw new PathProblem(
          `${ancestor} is ${stat ? `a ${stat.kind === 'symlink' ? 'symbolic link' : stat.kind}` : 'missing'}, not a folder: nothing is written through it`,
        );
      }
    }
  }

  // Moves.

  private async pullMove(change: PullMove): Promise<void> {
    const { fs, store } = this.options;
    await this.expect(change.from, change.local);
    // A new spelling of the same name, on a disk that ignores case: `to` is `from` there.
    const respelled =
      this.options.caseInsensitive?.() === true && caseKey(change.from) === caseKey(change.to);
    if (!respelled) await this.expectToWrite(change.to, undefined);
    await fs.rename(this.abs(change.from), this.abs(change.to));
    // (What was below it keeps its spelling; the moved name is now spelled as the hub's.)
    this.options.spellings?.().move(change.from, change.to);
    await fs.syncDir(this.abs(parentOf(change.to)));
    const root: BaseNode = {
      entry: change.remote.entry,
      seq: change.remote.seq,
      node: change.remote.node,
      ino: change.local.ino,
    };
    store.moveBase(change.from, change.to, root);
    if (change.local.entry.kind === 'file') await this.renamedHash(change.to, change.local);
    this.decide(
      change.to,
      'renamed locally',
      `the hub moved ${change.from} to ${change.to}; ${this.explain(change, change.from)}`,
    );
    this.options.log(`renamed ${change.from} -> ${change.to}`);
  }

  private async pushMoves(moves: readonly PushMove[], result: ExecutionResult): Promise<void> {
    const ops: WireOp[] = moves.map((m) => ({ op: 'move', from: m.from, to: m.to, base: m.base }));
    const results = await this.commit(ops, []);
    moves.forEach((move, i) => {
      const outcome = results[i]!;
      if (!outcome.ok) {
        result.problems.push({ path: move.to, message: outcome.message });
        this.decide(move.to, 'move rejected', outcome.message);
        return;
      }
      const old = this.options.store.base.get(move.from)!;
      this.options.store.moveBase(move.from, move.to, {
        entry: old.entry,
        seq: outcome.seq,
        node: outcome.node,
        ino: move.local.ino,
      });
      this.decide(move.to, 'sent rename', `moved from ${move.from} locally; sent as one move`);
      this.options.log(`sent rename ${move.from} -> ${move.to}`);
      result.applied++;
    });
  }

  // Conflicts.

  /** Moves the local version aside to a conflicted copy; it is uploaded from there next round. */
  private async forkConflict(
    path: string,
    local: LocalNode,
    remote: RemoteNode | undefined,
    result: ExecutionResult,
  ): Promise<void> {
    const { store, fs } = this.options;
    const change = { path, local, remote };
    await this.expect(change.path, change.local);
    const taken = (candidate: string) => store.remote.has(candidate) || store.base.has(candidate);
    let copy = conflictedCopyPath(change.path, {
      time: new Date(this.options.now()),
      device: this.options.deviceName,
      isDir: change.local.entry.kind === 'dir',
      taken,
    });
    // The name may exist on disk without being known to either tree yet.
    for (let n = 0; (await fs.lstat(this.abs(copy))) !== undefined; n++) {
      copy = conflictedCopyPath(change.path, {
        time: new Date(this.options.now() + (n + 1) * 1000),
        device: this.options.deviceName,
        isDir: change.local.entry.kind === 'dir',
        taken,
      });
    }
    await fs.rename(this.abs(change.path), this.abs(copy));
    result.touched.push(copy);
    const hash = store.hashes.get(change.path);
    if (hash) {
      store.setHash(copy, hash);
      store.setHash(change.path, undefined);
      if (change.local.entry.kind === 'file') await this.renamedHash(copy, change.local);
    }
    this.decide(
      change.path,
      'conflict',
      `both sides changed; local version kept as ${copy}; ${this.explain(change, change.path)}`,
    );
    this.options.log(`conflict on ${change.path}: local version kept as ${copy}`);
  }

  /**
   * This agent has just renamed the file now at `path` (found as `local` before), which moved
   * its ctime: its hash record is brought to the new ctime if the file is still the one hashed
   * (same inode, size and mtime), so that the agent's own rename does not cost a second read
   * of the file. (The guard before the rename checked the ctime against the record; only a
   * rewrite in the microseconds between the rename and this lstat would go unseen.)
   */
  private async renamedHash(path: string, local: LocalNode): Promise<void> {
    const { fs, store } = this.options;
    const record = store.hashes.get(path);
    if (local.entry.kind !== 'file' || record?.contentId !== local.entry.contentId) return;
    const stat = await fs.lstat(this.abs(path));
    if (
      stat?.kind !== 'file' ||
      stat.ino !== record.ino ||
      stat.size !== record.size ||
      stat.mtimeNs !== record.mtimeNs ||
      stat.ctimeNs === record.ctimeNs
    )
      return;
    store.setHash(path, { ...record, ctimeNs: stat.ctimeNs, hashedAt: this.trustedNow(stat) });
  }

  /**
   * The `hashedAt` of a hash this agent knows from its own writes rather than from reading
   * the file: late enough for the scanner to trust it (see `trustedSince`).
   */
  private trustedNow(stat: Stat): number {
    return Math.max(this.options.now(), Math.ceil(trustedSince(stat)) + 1);
  }

  /**
   * Renames a name that did not keep its path (another in its folder is the same path in
   * another Unicode form: see Collision) to a free conflicted copy of that path, spelled in
   * NFC, in the same folder. Returns the copy's path, or undefined when the name is gone.
   * `local` is the scan's tree, whose names are taken too.
   */
  async moveAside(
    collision: Collision,
    local: ReadonlyMap<string, unknown>,
  ): Promise<string | undefined> {
    const { fs, store, root } = this.options;
    const from = absolute(root, collision.disk);
    const stat = await fs.lstat(from);
    if (!stat) return undefined;
    const diskParent = parentOf(collision.disk);
    const taken = (candidate: string) =>
      store.remote.has(candidate) || store.base.has(candidate) || local.has(candidate);
    const copyAt = (n: number) =>
      conflictedCopyPath(collision.path, {
        time: new Date(this.options.now() + n * 1000),
        device: this.options.deviceName,
        isDir: stat.kind === 'dir',
        taken,
      });
    let copy = copyAt(0);
    const diskOf = (path: string) => absolute(root, joinPath(diskParent, baseName(path)));
    // The name may exist on disk without being known to either tree yet.
    for (let n = 1; (await fs.lstat(diskOf(copy))) !== undefined; n++) copy = copyAt(n);
    await fs.rename(from, diskOf(copy));
    await fs.syncDir(absolute(root, diskParent));
    this.decide(
      collision.path,
      'name collision',
      `another name in its folder is this path in another Unicode form; ${JSON.stringify(baseName(collision.disk))} kept as ${copy}`,
    );
    this.options.log(
      `${collision.path}: two names in its folder are this path (they differ only in Unicode form); one kept as ${copy}`,
    );
    return copy;
  }

  // Pushes.

  /**
   * Sends local changes: deletes first, then puts in path order (folders before what they
   * hold), in groups committed one after the other: other devices start downloading the
   * first files while this one still uploads the rest. A group is uploaded while the one
   * before it is being committed (the hub's fsyncs), never committed before it.
   */
  private async push(
    changes: readonly (PushPut | PushDelete)[],
    result: ExecutionResult,
    contents: ContentCache,
  ): Promise<void> {
    const deletes = changes
      .filter((c): c is PushDelete => c.type === 'push-delete')
      .sort((a, b) => depthOf(b.path) - depthOf(a.path) || comparePaths(b.path, a.path));
    const puts = changes
      .filter((c): c is PushPut => c.type === 'push-put')
      .sort((a, b) => comparePaths(a.path, b.path));
    let group: PushPut[] = [];
    let groupBytes = 0;
    let first = true;
    let committing: Promise<void> | undefined;
    const send = async () => {
      const uploaded = await this.uploadGroup(group, result, contents);
      await committing;
      committing = this.commitGroup(first ? deletes : [], uploaded, result);
      committing.catch(() => {}); // (awaited before the next commit, or at the end)
      first = false;
      group = [];
      groupBytes = 0;
    };
    for (const change of puts) {
      group.push(change);
      if (change.local.entry.kind === 'file') groupBytes += change.local.entry.size;
      if (group.length >= PUSH_GROUP_FILES || groupBytes >= PUSH_GROUP_BYTES) await send();
    }
    if (group.length > 0 || first) await send();
    await committing;
  }

  /** Uploads what the hub lacks of a group; returns what can be committed and its manifests. */
  private async uploadGroup(
    puts: readonly PushPut[],
    result: ExecutionResult,
    contents: ContentCache,
  ): Promise<{ sendable: PushPut[]; manifests: Map<ContentId, Manifest> }> {
    const { store } = this.options;

    // Upload what the hub lacks; files that changed since hashing are left for the next round.
    const manifests = new Map<ContentId, Manifest>();
    const sendable: PushPut[] = [];
    const files: { change: PushPut; chunks: readonly ChunkRef[] }[] = [];
    for (const change of puts) {
      if (change.local.entry.kind !== 'file') {
        sendable.push(change);
        continue;
      }
      const hash = store.hashes.get(change.path);
      if (!hash || hash.contentId !== change.local.entry.contentId) {
        result.problems.push({
          path: change.path,
          message: 'changed since it was hashed; will look again',
        });
        continue;
      }
      files.push({ change, chunks: hash.chunks });
    }
    const unstable = await this.uploadMissing(files, result, contents);
    for (const { change, chunks } of files) {
      if (unstable.has(change.path)) continue;
      const entry = change.local.entry as Extract<Entry, { kind: 'file' }>;
      manifests.set(entry.contentId, { contentId: entry.contentId, size: entry.size, chunks });
      sendable.push(change);
    }
    sendable.sort((a, b) => comparePaths(a.path, b.path));
    return { sendable, manifests };
  }

  private async commitGroup(
    deletes: readonly PushDelete[],
    { sendable, manifests }: { sendable: PushPut[]; manifests: Map<ContentId, Manifest> },
    result: ExecutionResult,
  ): Promise<void> {
    const { store } = this.options;
    const ops: WireOp[] = [
      ...deletes.map((d): WireOp => ({ op: 'delete', path: d.path, base: d.base })),
      ...sendable.map((p): WireOp => ({
        op: 'put',
        path: p.path,
        base: p.base,
        // (A hub of the release before modes refuses an entry with one.)
        entry: (this.options.client.hubModes ? p.local.entry : withoutMode(p.local.entry)) as never,
      })),
    ];
    if (ops.length === 0) return;
    const outcomes = await this.commit(ops, [...manifests.values()]);
    const all = [...deletes, ...sendable];
    const forks: PushPut[] = [];
    store.batch(() => {
      all.forEach((change, i) => {
        const outcome = outcomes[i]!;
        if (!outcome.ok) {
          result.problems.push({ path: change.path, message: outcome.message });
          this.decide(change.path, 'push rejected', `${outcome.reason}: ${outcome.message}`);
          // A folder on the hub still has content this device never saw: keep ours aside.
          // (Content it saw and deleted here, whose deletions did not go this time, is no
          // conflict: the put goes with them.)
          if (
            outcome.reason === 'not-empty' &&
            change.type === 'push-put' &&
            !this.onlyDeletedHere(change.path)
          )
            forks.push(change);
          return;
        }
        result.applied++;
        if (change.type === 'push-delete') {
          store.setBase(change.path, undefined);
          this.decide(
            change.path,
            'sent delete',
            `deleted locally; ${this.explain({}, change.path)}`,
          );
          this.options.log(`sent delete ${change.path}`);
        } else {
          store.setBase(change.path, {
            entry: change.local.entry,
            seq: outcome.seq,
            node: outcome.node,
            ino: change.local.ino,
          });
          this.decide(
            change.path,
            'sent',
            `changed locally; ${this.explain({ local: change.local }, change.path)}`,
          );
          this.options.log(
            `sent ${change.local.entry.kind === 'dir' ? 'folder ' : ''}${change.path}`,
          );
        }
      });
    });
    for (const change of forks) {
      await this.guarded(change.path, result, () =>
        this.forkConflict(
          change.path,
          change.local,
          this.options.store.remote.get(change.path),
          result,
        ),
      );
    }
  }

  /**
   * True when everything the remote tree holds below `path` is what this device last agreed
   * on and has since deleted here: a folder replaced here by a file or a link whose
   * deletions are still to be sent. Anything else below it (new or changed on the hub) is
   * another device's, and a put over it is a conflict.
   */
  private onlyDeletedHere(path: string): boolean {
    const { store } = this.options;
    for (const [inside, remote] of store.remote) {
      if (!isInside(inside, path)) continue;
      if (store.base.get(inside)?.seq !== remote.seq) return false;
    }
    return true;
  }

  private async commit(
    ops: readonly WireOp[],
    manifests: readonly Manifest[],
  ): Promise<OpResult[]> {
    const outcomes: OpResult[] = [];
    for (let i = 0; i < ops.length; i += MAX_OPS_PER_COMMIT) {
      const slice = ops.slice(i, i + MAX_OPS_PER_COMMIT);
      const needed = new Set(
        slice.flatMap((op) =>
          op.op === 'put' && op.entry.kind === 'file' ? [op.entry.contentId] : [],
        ),
      );
      const response = await this.options.client.commit(this.options.workspaceId, {
        ops: slice,
        manifests: manifests
          .filter((m) => needed.has(m.contentId))
          .map((m) => ({ ...m, chunks: [...m.chunks] })),
      });
      outcomes.push(...response.results);
    }
    return outcomes;
  }

  /**
   * Uploads the chunks the hub lacks, reading them back from the files and checking each
   * against its id. Returns the paths that no longer match their hash (changed meanwhile).
   */
  private async uploadMissing(
    files: readonly { change: PushPut; chunks: readonly ChunkRef[] }[],
    result: ExecutionResult,
    contents: ContentCache,
  ): Promise<Set<string>> {
    const unstable = new Set<string>();
    const allIds = [...new Set(files.flatMap((f) => f.chunks.map((c) => c.id)))];
    if (allIds.length === 0) return unstable;
    const uploader = new ChunkUploader(this.options.client, this.options.workspaceId);
    let missing: Set<ChunkId>;
    try {
      missing = await uploader.missing(allIds, growthOf(files, this.options.store));
    } catch (error) {
      // The owner's quota is full: each file waiting to go up is a problem of its own path
      // (shown by `tandem status`, retried on the problems' slow schedule), and the rest of
      // the round, deletions that free space among it, goes on.
      if (!(error instanceof TandemError) || error.code !== 'QUOTA_EXCEEDED') throw error;
      for (const { change } of files) {
        unstable.add(change.path);
        result.problems.push({
          path: change.path,
          message: error.message,
          retryWithinMs: QUOTA_RETRY_MS,
        });
      }
      return unstable;
    }
    for (const { change, chunks } of files) {
      const wanted = chunks.some((c) => missing.has(c.id));
      if (!wanted) continue;
      const entry = change.local.entry as Extract<Entry, { kind: 'file' }>;
      const hashed = contents.get(change.path, entry.contentId);
      if (hashed) {
        let offset = 0;
        for (const chunk of chunks) {
          if (missing.delete(chunk.id))
            await uploader.add(chunk.id, hashed.subarray(offset, offset + chunk.size));
          offset += chunk.size;
        }
        continue;
      }
      let handle: ReadHandle | undefined;
      try {
        handle = await this.openScanned(change.path, change.local);
        // Neighbouring missing chunks are read in one call (up to a batch), then sliced.
        // Not hashed again here: the stat checks around the reads show the file is as it was
        // hashed, and the hub verifies every chunk against its id anyway.
        let offset = 0;
        for (let i = 0; i < chunks.length;) {
          if (!missing.has(chunks[i]!.id)) {
            offset += chunks[i]!.size;
            i++;
            continue;
          }
          const span: ChunkRef[] = [];
          let spanBytes = 0;
          for (; i < chunks.length && missing.has(chunks[i]!.id); i++) {
            if (span.length > 0 && spanBytes + chunks[i]!.size > UPLOAD_BATCH_BYTES) break;
            missing.delete(chunks[i]!.id);
            span.push(chunks[i]!);
            spanBytes += chunks[i]!.size;
          }
          const bytes = Buffer.allocUnsafe(spanBytes);
          if ((await readFully(handle, bytes, offset)) !== spanBytes)
            throw new PathProblem(`${change.path} changed while uploading; will look again`);
          for (let at = 0, k = 0; k < span.length; at += span[k]!.size, k++)
            await uploader.add(span[k]!.id, bytes.subarray(at, at + span[k]!.size));
          offset += spanBytes;
        }
        await this.stillScanned(change.path, handle, change.local); // still as hashed?
      } catch (error) {
        if (!(error instanceof PathProblem) && !errorCode(error)) throw error;
        unstable.add(change.path);
        result.problems.push({
          path: change.path,
          message:
            error instanceof PathProblem
              ? error.message
              : `cannot read it: ${describeLocalError(error, this.options.root)}`,
        });
      } finally {
        await handle?.close();
      }
    }
    try {
      await uploader.finish();
    } finally {
      result.uploaded += uploader.uploaded;
    }
    return unstable;
  }

  // Pulls.

  private async pullDelete(change: PullDelete): Promise<void> {
    const { fs, store } = this.options;
    await this.expect(change.path, change.local);
    if (change.local.entry.kind === 'dir') {
      try {
        await fs.rmdir(this.abs(change.path));
      } catch (error) {
        if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST') {
          // Something unsynced (ignored, or new) is inside: keep the folder; it is re-sent.
          store.setBase(change.path, undefined);
          throw new PathProblem(
            `${change.path} was deleted on the hub but holds local files; kept`,
          );
        }
        throw error;
      }
    } else {
      await fs.unlink(this.abs(change.path));
    }
    store.setBase(change.path, undefined);
    store.setHash(change.path, undefined);
    this.decide(
      change.path,
      'deleted locally',
      `deleted on the hub; ${this.explain(change, change.path)}`,
    );
    this.options.log(`deleted ${change.path}`);
  }

  private async pull(changes: readonly PullPut[], result: ExecutionResult): Promise<void> {
    const sorted = [...changes].sort((a, b) => comparePaths(a.path, b.path));
    for (const change of sorted.filter(modeOnly))
      await this.guarded(change.path, result, () => this.chmodFile(change));
    const files = sorted.filter((c) => c.remote.entry.kind === 'file' && !modeOnly(c));
    // Folders and links first, parents before what they hold; their folders are synced once
    // all are in place (one fsync per folder, not one per entry), and only then recorded.
    const placed: PlacedNonFile[] = [];
    const started = performance.now();
    for (const change of sorted) {
      if (change.remote.entry.kind !== 'file')
        await this.guarded(change.path, result, async () => {
          placed.push(await this.placeNonFile(change));
        });
    }
    await this.recordNonFiles(placed.filter((p) => p.lateMode === undefined));
    if (placed.length > 0)
      this.options.trace?.(
        `pulled ${placed.length} folders and links in ${Math.round(performance.now() - started)} ms`,
      );
    try {
      await this.pullFiles(files, result);
    } finally {
      await this.placeLateModes(placed, result);
    }
  }

  /** Downloads and places the files of a pull. */
  private async pullFiles(files: readonly PullPut[], result: ExecutionResult): Promise<void> {
    if (files.length === 0) return;
    const manifests = await this.fetchManifests(
      files.map((f) => (f.remote.entry as Extract<Entry, { kind: 'file' }>).contentId),
    );
    const localChunks = this.options.store.chunks;
    // Small files travel in batches: one request for all their chunks, one fsync per folder.
    // Large files stream on their own, so memory stays bounded whatever their size.
    const sizeOf = (c: PullPut) => (c.remote.entry as Extract<Entry, { kind: 'file' }>).size;
    const small = files.filter((c) => sizeOf(c) <= SMALL_FILE_BYTES);
    const large = files.filter((c) => sizeOf(c) > SMALL_FILE_BYTES);
    const batches: PullPut[][] = [];
    for (let i = 0; i < small.length;) {
      const batch: PullPut[] = [];
      let bytes = 0;
      while (i < small.length && batch.length < SMALL_BATCH_FILES && bytes < SMALL_BATCH_BYTES) {
        batch.push(small[i]!);
        bytes += sizeOf(small[i]!);
        i++;
      }
      batches.push(batch);
    }
    // The next batch's chunks are fetched while this one is written (and fsynced).
    let fetching = batches[0] && this.fetchBatch(batches[0], manifests, localChunks, result);
    for (let i = 0; i < batches.length; i++) {
      const started = performance.now();
      const chunks = (await fetching)!;
      const waited = performance.now() - started;
      if (i + 1 < batches.length) {
        fetching = this.fetchBatch(batches[i + 1]!, manifests, localChunks, result);
        fetching.catch(() => {}); // (awaited next turn; this batch may fail first)
      }
      await this.pullBatch(batches[i]!, manifests, chunks, waited, result);
    }
    for (const change of large) await this.pullBatch([change], manifests, new Map(), 0, result);
  }

  /** The chunks of a batch of small files that no local file holds, fetched in one request. */
  private async fetchBatch(
    batch: readonly PullPut[],
    manifests: ReadonlyMap<ContentId, Manifest>,
    localChunks: LocalChunks,
    result: ExecutionResult,
  ): Promise<Map<ChunkId, Uint8Array>> {
    const batchChunks = new Map<ChunkId, Uint8Array>();
    if (batch.length <= 1) return batchChunks;
    const wanted = new Set<ChunkId>();
    for (const change of batch) {
      const manifest = manifests.get(
        (change.remote.entry as Extract<Entry, { kind: 'file' }>).contentId,
      );
      for (const chunk of manifest?.chunks ?? [])
        if (!localChunks.has(chunk.id)) wanted.add(chunk.id);
    }
    if (wanted.size > 0) await this.fetchInto([...wanted], batchChunks, result);
    return batchChunks;
  }

  /**
   * Writes a batch of files (from `batchChunks`, local files, or the hub), makes them and
   * their folders durable, then records them.
   *
   * A big batch is made durable by a barrier over the filesystem, opened before any write: it
   * is flushed once all temporary files are written (none is renamed before its bytes are on
   * disk), and once more after the renames. A small one fsyncs each file before its rename,
   * and each folder after.
   */
  private async pullBatch(
    batch: readonly PullPut[],
    manifests: ReadonlyMap<ContentId, Manifest>,
    batchChunks: ReadonlyMap<ChunkId, Uint8Array>,
    fetchMs: number,
    result: ExecutionResult,
  ): Promise<void> {
    const { fs, store } = this.options;
    // (One look at the free space for the batch; each file takes its part before writing.)
    const budget = await SpaceBudget.of(fs, this.options.root);
    const write = (change: PullPut, durable: boolean) =>
      this.writeDownload(change, manifests, batchChunks, result, durable, budget);
    const phases: string[] = [];
    let at = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      phases.push(`${name} ${Math.round(now - at)} ms`);
      at = now;
    };
    const barrier =
      batch.length >= BARRIER_BATCH_FILES ? await fs.openBarrier(this.tmpDir) : undefined;
    try {
      const written = barrier
        ? await this.placeAfterBarrier(batch, write, barrier, result, phase)
        : await this.placeEachDurable(batch, write, result, phase);
      if (written.length === 0) return;
      // A rename is durable once its folder is: only then is the new base recorded, so a crash
      // can never leave a base that claims a file the disk lost.
      if (barrier) await barrier.flush();
      else await this.syncParents(written.map((w) => w.change.path));
      phase(barrier ? 'syncfs' : 'folder syncs');
      // The rename moved each file's ctime: the hash is recorded with the file's stat after
      // it, so that the next scan does not take this agent's own write for a local change
      // (and send back what it just received). A file that is not the one written any more
      // (inode, size or mtime) is left to the next scan to hash.
      const placed: (Stat | undefined)[] = [];
      for (const { change, stat } of written) {
        const now = await fs.lstat(this.abs(change.path));
        const same =
          now?.kind === 'file' &&
          now.ino === stat.ino &&
          now.size === stat.size &&
          now.mtimeNs === stat.mtimeNs;
        placed.push(same ? now : undefined);
      }
      phase('stat');
      store.batch(() => {
        written.forEach(({ change, stat, manifest }, i) => {
          const entry = change.remote.entry as Extract<Entry, { kind: 'file' }>;
          const now = placed[i];
          store.setHash(
            change.path,
            now && {
              ino: now.ino,
              size: now.size,
              mtimeNs: now.mtimeNs,
              ctimeNs: now.ctimeNs,
              contentId: entry.contentId,
              chunks: manifest.chunks,
              hashedAt: this.trustedNow(now),
            },
          );
          // A filesystem that keeps coarser times than the hub's mtime (whole seconds, 2 s
          // on FAT) has set another one: the agreement is on the file as the disk holds it,
          // or the next scan would send its mtime back as a change.
          const held = stat.mtimeMs === entry.mtime ? entry : { ...entry, mtime: stat.mtimeMs };
          this.recordReceived(change, stat.ino, `received ${change.path}`, held);
        });
      });
      phase('record');
      this.options.trace?.(
        `pulled ${batch.length} files: waited ${Math.round(fetchMs)} ms for chunks, ${phases.join(', ')}`,
      );
    } finally {
      await barrier?.close();
    }
  }

  /**
   * Writes every file of a batch without an fsync, makes them all durable with one flush of
   * the barrier, then renames each into place (guarded). Returns those placed. A failed flush
   * places nothing and removes the temporary files.
   */
  private async placeAfterBarrier(
    batch: readonly PullPut[],
    write: (change: PullPut, durable: boolean) => Promise<Download>,
    barrier: Barrier,
    result: ExecutionResult,
    phase: (name: string) => void,
  ): Promise<Download[]> {
    const staged: Download[] = [];
    await forEachLimited(batch, PARALLEL_DOWNLOADS, async (change) => {
      const stage = async () => void staged.push(await write(change, false));
      await this.guarded(change.path, result, stage, false);
    });
    phase('write');
    try {
      await barrier.flush();
    } catch (error) {
      await Promise.all(staged.map((d) => this.options.fs.unlink(d.temp).catch(() => undefined)));
      throw error;
    }
    phase('syncfs');
    const placed: Download[] = [];
    for (const download of staged)
      await this.guarded(download.change.path, result, async () => {
        await this.placeDownload(download);
        placed.push(download);
      });
    phase('rename');
    return placed;
  }

  /** Writes, fsyncs and renames into place each file of a batch (guarded). Returns those placed. */
  private async placeEachDurable(
    batch: readonly PullPut[],
    write: (change: PullPut, durable: boolean) => Promise<Download>,
    result: ExecutionResult,
    phase: (name: string) => void,
  ): Promise<Download[]> {
    const placed: Download[] = [];
    await forEachLimited(batch, PARALLEL_DOWNLOADS, async (change) => {
      await this.guarded(change.path, result, async () => {
        const download = await write(change, true);
        await this.placeDownload(download);
        placed.push(download);
      });
    });
    phase('write');
    return placed;
  }

  /**
   * The disk now holds the hub's version of a path (as `entry`: the hub's, or the file as
   * written here): record the agreement and say so.
   */
  private recordReceived(
    change: PullPut,
    ino: number,
    line: string,
    entry: Entry = change.remote.entry,
  ): void {
    this.options.store.setBase(change.path, {
      entry,
      seq: change.remote.seq,
      node: change.remote.node,
      ino,
    });
    this.decide(
      change.path,
      'received',
      `changed on the hub; ${this.explain(change, change.path)}`,
    );
    this.options.log(line);
  }

  /**
   * Fetches chunks from the hub into `into`, verifying each against its id. (Its length is
   * checked against each manifest that uses it, as it is written: ContentWriter.write.)
   */
  private async fetchInto(
    ids: readonly ChunkId[],
    into: Map<ChunkId, Uint8Array>,
    result: ExecutionResult,
  ): Promise<void> {
    let k = 0;
    for await (const { id, bytes } of this.options.client.fetchChunks(
      this.options.workspaceId,
      ids,
    )) {
      if (id !== ids[k] || chunkIdOf(bytes) !== id)
        throw new TandemError(
          'CHUNK_MISMATCH',
          `chunk ${id.slice(0, 12)} arrived corrupted; will retry`,
        );
      into.set(id, bytes);
      result.downloaded += bytes.length;
      k++;
    }
    if (k !== ids.length)
      throw new TandemError('INTERNAL', 'the hub sent fewer chunks than asked; will retry');
  }

  /**
   * The manifests of `ids`, each checked (`checkManifest`: its content id is the hash of its
   * chunk ids, its size their sum) before it is used: from the hash cache when a local file
   * holds that content, else from the hub. One that fails is left out, and why is kept in
   * `refusedManifests` for the paths that need it.
   */
  private async fetchManifests(ids: readonly ContentId[]): Promise<Map<ContentId, Manifest>> {
    const unique = [...new Set(ids)];
    const known = new Map<ContentId, Manifest>();
    this.refusedManifests.clear();
    // A content already on disk here needs no round trip.
    for (const id of unique) {
      const record = this.options.store.contentRecord(id);
      if (!record) continue;
      const local = { contentId: id, size: record.size, chunks: record.chunks };
      if (checkManifest(local).ok) known.set(id, local);
    }
    const wanted = unique.filter((id) => !known.has(id));
    const fetched =
      wanted.length > 0
        ? await this.options.client.manifests(this.options.workspaceId, wanted)
        : [];
    const asked = new Set(wanted);
    for (const manifest of fetched as unknown[]) {
      const check = checkManifest(manifest);
      const id = (manifest as { contentId?: unknown } | null)?.contentId as ContentId;
      if (!asked.has(id)) continue; // (not asked for: of no use)
      if (check.ok) known.set(id, check.manifest);
      else if (!known.has(id)) this.refusedManifests.set(id, check.reason);
    }
    return known;
  }

  /** Puts a folder or link in place (guarded); its folder's sync and its record are the caller's. */
  private async placeNonFile(change: PullPut): Promise<PlacedNonFile> {
    const { fs } = this.options;
    const entry = change.remote.entry;
    await this.expectToWrite(change.path, change.local);
    const full = this.abs(change.path);
    // (Already a folder here: only the agreement is new.)
    const made = entry.kind !== 'dir' || change.local?.entry.kind !== 'dir';
    if (made) {
      await this.removeExpected(change.path, change.local);
      if (entry.kind === 'dir') await fs.mkdir(full);
      else if (entry.kind === 'symlink') await fs.symlink(entry.target, full);
    }
    const stat = await fs.lstat(full);
    if (!stat) throw new PathProblem(`${change.path} vanished right after it was written`);
    if (entry.kind !== 'dir') return { change, ino: stat.ino, made };
    // Made 0o700 (or found with another mode): given its exact mode now, or, if that shuts
    // its owner out, once this round's files are inside.
    if ((entry.mode & OWNER_WX) !== OWNER_WX)
      return { change, ino: stat.ino, made, lateMode: entry.mode };
    if (stat.kind === 'dir' && stat.mode !== entry.mode) await fs.chmod(full, entry.mode);
    return { change, ino: stat.ino, made };
  }

  /**
   * Gives the folders placed 0o700 for this round's files their own modes (deepest first,
   * each still the folder placed), then records them.
   */
  private async placeLateModes(
    placed: readonly PlacedNonFile[],
    result: ExecutionResult,
  ): Promise<void> {
    const late = placed
      .filter((p) => p.lateMode !== undefined)
      .sort((a, b) => depthOf(b.change.path) - depthOf(a.change.path));
    if (late.length === 0) return;
    const done: PlacedNonFile[] = [];
    for (const folder of late)
      await this.guarded(folder.change.path, result, async () => {
        const full = this.abs(folder.change.path);
        const stat = await this.options.fs.lstat(full);
        if (stat?.kind !== 'dir' || stat.ino !== folder.ino)
          throw new PathProblem(`${folder.change.path} changed locally while it was placed`);
        if (stat.mode !== folder.lateMode) await this.options.fs.chmod(full, folder.lateMode!);
        done.push(folder);
      });
    await this.recordNonFiles(done);
  }

  /**
   * Applies a change of a file's mode alone (`modeOnly`) with a chmod in place, if the file
   * is still exactly as scanned. Its hash record follows the ctime the chmod moved, so the
   * next scan does not read it again.
   */
  private async chmodFile(change: PullPut): Promise<void> {
    const { fs, store } = this.options;
    const entry = change.remote.entry as FileEntry;
    await this.expect(change.path, change.local);
    const full = this.abs(change.path);
    await fs.chmod(full, entry.mode);
    const now = await fs.lstat(full);
    const record = store.hashes.get(change.path);
    if (
      now?.kind === 'file' &&
      record &&
      now.ino === record.ino &&
      now.size === record.size &&
      now.mtimeNs === record.mtimeNs
    )
      store.setHash(change.path, {
        ...record,
        ctimeNs: now.ctimeNs,
        hashedAt: this.trustedNow(now),
      });
    this.recordReceived(
      change,
      change.local!.ino,
      `mode of ${change.path} set to ${formatMode(entry.mode)}`,
    );
  }

  /** Makes the folders holding `paths` durable: each folder fsynced once, several at a time. */
  private async syncParents(paths: readonly string[]): Promise<void> {
    const dirs = new Set(paths.map(parentOf));
    await forEachLimited([...dirs], PARALLEL_DOWNLOADS, (dir) =>
      this.options.fs.syncDir(this.abs(dir)),
    );
  }

  /** Syncs the folders that placed entries were made in, then records the entries. */
  private async recordNonFiles(placed: readonly PlacedNonFile[]): Promise<void> {
    await this.syncParents(placed.filter((p) => p.made).map((p) => p.change.path));
    this.options.store.batch(() => {
      for (const { change, ino } of placed) {
        const kind = change.remote.entry.kind;
        const what = kind === 'dir' ? 'folder ' : kind === 'symlink' ? 'link ' : '';
        this.recordReceived(change, ino, `received ${what}${change.path}`);
      }
    });
  }

  /**
   * Removes what the guard just confirmed is there, so a different kind can take its place.
   * (A file replaced by a file needs no removal: the rename replaces it atomically.)
   */
  private async removeExpected(path: string, local: LocalNode | undefined): Promise<void> {
    if (!local) return;
    if (local.entry.kind === 'dir') {
      try {
        await this.options.fs.rmdir(this.abs(path));
      } catch (error) {
        if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST')
          throw new PathProblem(`${path} is a folder with local files in it; not replaced`);
        throw error;
      }
    } else {
      await this.options.fs.unlink(this.abs(path));
    }
  }

  /**
   * Downloads a file into a temporary file with its mode and mtime, fsynced if `durable`
   * (else the caller's barrier makes it durable before it is placed). A file the prefetcher
   * began is fsynced anyway: it was written before the barrier was opened, and a barrier
   * reports only the write-back errors that come after it.
   */
  private async writeDownload(
    change: PullPut,
    manifests: ReadonlyMap<ContentId, Manifest>,
    batchChunks: ReadonlyMap<ChunkId, Uint8Array>,
    result: ExecutionResult,
    durable: boolean,
    budget: SpaceBudget,
  ): Promise<Download> {
    const entry = change.remote.entry as Extract<Entry, { kind: 'file' }>;
    const manifest = manifests.get(entry.contentId);
    if (!manifest) {
      const refused = this.refusedManifests.get(entry.contentId);
      throw new PathProblem(
        refused
          ? `the hub's manifest of ${change.path} does not verify (${refused}); nothing written`
          : `the hub has no manifest for ${change.path}; will retry`,
      );
    }
    if (manifest.size !== entry.size)
      throw new PathProblem(
        `the hub says ${change.path} is ${entry.size} bytes, but its content is ${manifest.size}; nothing written`,
      );
    const { file, kept, prefetched } = await this.tempFileFor(change.path, manifest, result);
    const needed = manifest.size - kept.bytes;
    let stat: Stat | undefined;
    let failure: unknown;
    try {
      // A file the disk has no room for is not begun (and one begun ahead is let go).
      budget.take(needed);
      const rest = manifest.chunks.slice(kept.chunks);
      await this.writer.write(file, rest, kept.bytes, batchChunks, result);
      await file.handle.setMeta(entry.mode, entry.mtime);
      if (durable || prefetched) await file.sync();
      else await file.flushed();
      // What is recorded is the file written here, even if someone changes it once renamed:
      // every chunk in it was checked (length and hash), and so is the whole.
      const written = await file.handle.stat();
      if (written.size !== manifest.size)
        throw new PathProblem(
          `${change.path} came out ${written.size} bytes instead of ${manifest.size}; nothing placed`,
        );
      stat = written;
    } catch (error) {
      failure = error;
    }
    // Whatever failed, the temporary file goes: a partial download must not hold the disk.
    try {
      await file.settle();
      await file.handle.close();
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined || !stat) {
      await this.options.fs.unlink(file.path).catch(() => undefined);
      // (Said once the partial file is gone, so that the free space it gives is the disk's.)
      if (!(failure instanceof PathProblem) && isDiskRefusal(failure))
        throw await diskProblem(this.options.fs, this.options.root, failure, needed);
      throw failure;
    }
    return { change, stat, manifest, temp: file.path };
  }

  /** Renames a durable download into place, if the target is still what the planner saw. */
  private async placeDownload({ change, temp }: Download): Promise<void> {
    const { fs } = this.options;
    try {
      // The last check: the target must still be what the planner saw, right before the rename.
      await this.expectToWrite(change.path, change.local);
      if (change.local && change.local.entry.kind !== 'file')
        await this.removeExpected(change.path, change.local);
      await fs.rename(temp, this.abs(change.path));
    } catch (error) {
      await fs.unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The temporary file to download a manifest into: the one fetched ahead of the commit, if
   * its first chunks are the manifest's first chunks (those are kept) and nothing was written
   * past the manifest's end; else a new one.
   */
  private async tempFileFor(
    path: string,
    manifest: Manifest,
    result: ExecutionResult,
  ): Promise<{ file: TempFile; kept: { chunks: number; bytes: number }; prefetched: boolean }> {
    const staged = await this.prefetcher.take(path);
    if (staged && staged.extent <= manifest.size) {
      const kept = keptPrefix(staged, manifest);
      result.downloaded += staged.downloaded;
      this.options.trace?.(
        `${path}: ${kept.bytes} of ${manifest.size} bytes were fetched before the commit`,
      );
      return { file: staged.file, kept, prefetched: true };
    }
    await staged?.file.discard(this.options.fs);
    const file = await TempFile.create(this.options.fs, this.tmpDir);
    return { file, kept: { chunks: 0, bytes: 0 }, prefetched: false };
  }
}

/** How many of a manifest's first chunks a staged file already holds, and their bytes. */
function keptPrefix(staged: StagedFile, manifest: Manifest): { chunks: number; bytes: number } {
  let chunks = 0;
  let bytes = 0;
  while (chunks < staged.chunks.length && chunks < manifest.chunks.length) {
    const have = staged.chunks[chunks]!;
    const want = manifest.chunks[chunks]!;
    if (have.id !== want.id || have.size !== want.size) break;
    bytes += want.size;
    chunks++;
  }
  return { chunks, bytes };
}

/** Bytes `files` add to the workspace: their sizes less those of the hub's versions. */
function growthOf(files: readonly { change: PushPut }[], store: StateStore): number {
  let bytes = 0;
  for (const { change } of files)
    if (change.local.entry.kind === 'file')
      bytes += change.local.entry.size - store.remoteSize(change.path);
  return Math.max(0, bytes);
}

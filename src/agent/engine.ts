/**
 * The sync engine: one round is pull the feed -> scan the disk -> plan -> execute. Rounds
 * repeat until a plan is empty; the engine then waits for a hint (a watcher event, a poke
 * from the hub, a timer) and runs again. Hints only say "look again": the cursor, the scan
 * and the planner are the truth, so a lost hint costs latency, never correctness.
 */
import {
  MAX_FILE_BYTES,
  legacyModes,
  type BaseNode,
  type LocalNode,
  type RemoteNode,
  type Tree,
} from '../core/entry.js';
import { IGNORE_FILE, makeIgnoreMatcher, STATE_DIR, type IgnoreMatcher } from '../core/ignore.js';
import { caseCollisions, Spellings } from '../core/local-names.js';
import { checkPath } from '../core/paths.js';
import { holdTypeChanges, plan, type Change } from '../core/planner.js';
import { errorCode } from '../fs/file-system.js';
import type { Role, UploadPreview } from '../protocol/api.js';
import { TandemError } from '../protocol/errors.js';
import type { ContentId } from '../core/ids.js';
import { MAX_CHUNK_BYTES } from '../store/chunk-store.js';
import { ChunkUploader, EarlyUpload, UPLOAD_BATCH_BYTES } from './chunk-uploader.js';
import { pullInto } from './pull.js';
import { DeletionGuard, type DeletionLimits } from './deletion-guard.js';
import { DeletionHold, type HoldResult } from './deletion-hold.js';
import { DiskReserve } from './disk-reserve.js';
import { ContentCache, Executor, type ExecutionResult, type ExecutorOptions } from './executor.js';
import { labelOf } from './feed-check.js';
import { describeLocalError, diskProblem, isDiskRefusal, spaceMessage } from './local-errors.js';
import { PathProblems } from './problems.js';
import type { SpecialKind } from '../fs/file-system.js';
import {
  absolute,
  describeSpecial,
  readIgnoreFile,
  rescanPaths,
  scanTree,
  type Problem,
  type ScanOptions,
  type ScanResult,
} from './scanner.js';
import type { HashRecord, StateStore } from './state-store.js';

/** What the engine needs: the executor's options, with a clock and a log of its own choosing. */
export interface EngineOptions extends Omit<ExecutorOptions, 'now' | 'log' | 'trace'> {
  readonly now?: () => number;
  readonly log?: (line: string) => void;
  /** Where to log how long each phase of a round took (not logged when absent). */
  readonly trace?: (line: string) => void;
  /** How long a local deletion must hold before it is sent (ms; DELETE_SETTLE_MS). */
  readonly deleteSettleMs?: number;
  /** When a round's local deletions are held for the person to confirm (see DeletionGuard). */
  readonly deletionLimits?: DeletionLimits;
}

export interface RoundResult {
  /** Changes the planner asked for (0: everything agrees). */
  readonly planned: number;
  readonly execution: ExecutionResult;
  /**
   * Paths not final yet: files still being written, and local deletions held back a moment
   * (they may be half of a rename). The round is not final until they settle.
   */
  readonly unstable: number;
  /** When to look again at the paths not final yet (ms). */
  readonly retryInMs: number;
  readonly scanProblems: readonly Problem[];
  /**
   * Problems first seen (or changed) this round, of the feed, the scan or the changes made:
   * to tell the person once. A problem that persists is not in here again.
   */
  readonly reported: readonly Problem[];
  /** Paths with a problem now (see PathProblems; scan problems are not counted). */
  readonly problems: number;
  /** When the first change left out for its retry is due (ms), if one was left out. */
  readonly problemsDueInMs: number | undefined;
  /** Local changes not sent because this device may only view the workspace. */
  readonly unsent: number;
  /**
   * Files whose local deletion the mass-deletion guard holds until the person confirms it
   * (not counted in `unstable`: they wait for a person, not for time).
   */
  readonly heldDeletions: number;
  /** Files this round placed from the hub (other devices' changes), for notifications. */
  readonly received: readonly string[];
  /** Paths where both sides changed, their local version kept as a conflicted copy. */
  readonly conflicts: readonly string[];
}

/**
 * At most this many bytes of small files are kept from a scan for the round's uploads; the
 * rest are read again when uploaded (a synchronous read of a cached file: microseconds).
 * With 64 MiB, W2's 85 MB kept A at 226-230 MB at its peak, and the memory stayed with the
 * process; with 16 MiB, 168-190 MB, for ~0.1 s more CPU.
 */
const CONTENT_CACHE_BYTES = 16 * 1024 * 1024;

/** How soon to look again at a file that changed while it was being read. */
export const UNSTABLE_RETRY_MS = 30;

/** What a device is told when it may only view its workspace. */
function viewOnlyMessage(root: string): string {
  return `you may only view this workspace: changes made here stay on this device and are not uploaded (see \`tandem status ${root}\`)`;
}

/** The files received and the conflicts made by those of `attempted` that did not fail. */
function madeHere(
  attempted: readonly Change[],
  execution: ExecutionResult,
): { received: string[]; conflicts: string[] } {
  const failed = new Set(execution.problems.map((p) => p.path));
  const received: string[] = [];
  const conflicts: string[] = [];
  for (const change of attempted) {
    if (change.type === 'pull-put' && change.remote.entry.kind === 'file') {
      if (!failed.has(change.path)) received.push(change.path);
    } else if (change.type === 'conflict' && !failed.has(change.path)) {
      conflicts.push(change.path);
    }
  }
  return { received, conflicts };
}

/** Raised when syncing must stop for the person to look (e.g. `.tandem` vanished). */
export class SyncHalted extends Error {
  override readonly name = 'SyncHalted';
}

export class SyncEngine {
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly executor: Executor;
  private readonly deletions: DeletionHold;
  private readonly guard: DeletionGuard;
  /** The held deletions were logged (once while any are held). */
  private holdLogged = false;
  private readonly problems: PathProblems;
  /** Space kept aside for the state database, for when the disk fills up (see DiskReserve). */
  private readonly reserve: DiskReserve;
  /** The scan's problems last round, so that each is reported once. */
  private scanProblems = new Map<string, string>();
  /** Feed problems found by pulls since the last round reported them. */
  private feedProblems: Problem[] = [];
  /**
   * A viewer's device: local changes stay on the device, never sent (the hub would refuse
   * them), and are counted as not uploaded; the hub's changes are still received. Set when
   * the hub first refuses this device write access (see round), and set or cleared when the
   * hub says the role (see setRole): an upgrade to editor sends what waited, without restart.
   */
  private readOnly = false;
  /** Upload previews refused, by upload, so that each is reported once. */
  private readonly refusedPreviews = new Set<string>();
  /** Time for waits between rounds: monotonic unless the caller drives the clock. */
  private readonly elapsed: () => number;
  /** Whether the disk looks names up without regard to case (probed by `prepare`). */
  private caseInsensitive = false;
  /** Hub paths this disk cannot hold (see caseCollisions), as found at `caseCursor`. */
  private caseLosers = new Map<string, string>();
  private caseCursor = -1;

  constructor(private readonly options: EngineOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.deletions = new DeletionHold(options.deleteSettleMs);
    this.guard = new DeletionGuard(options.store, options.deletionLimits);
    this.problems = new PathProblems(options.store);
    this.reserve = new DiskReserve(
      options.fs,
      absolute(options.root, `${STATE_DIR}/reserve`),
      options.root,
    );
    this.elapsed = options.now ?? (() => performance.now());
    this.executor = new Executor({
      fs: options.fs,
      root: options.root,
      store: options.store,
      client: options.client,
      workspaceId: options.workspaceId,
      deviceName: options.deviceName,
      now: this.now,
      log: this.log,
      trace: options.trace,
      spellings: () => this.lastScan?.spellings ?? NO_SPELLINGS,
      caseInsensitive: () => this.caseInsensitive,
    });
  }

  get store(): StateStore {
    return this.options.store;
  }

  /** The last scan, which a round with hints starts from. */
  private lastScan: ScanResult | undefined;
  /** Paths to scan again next round ('all': everything). */
  private pendingHints: Set<string> | 'all' = 'all';
  private matcher: IgnoreMatcher | undefined;

  /** The executor changed these paths on disk: the next round must look at them again. */
  private hintChanged(changes: readonly Change[], execution: ExecutionResult): void {
    if (this.pendingHints === 'all') return;
    for (const change of changes) {
      if ('from' in change) {
        this.pendingHints.add(change.from);
        this.pendingHints.add(change.to);
      } else {
        this.pendingHints.add(change.path);
      }
    }
    for (const path of execution.touched) this.pendingHints.add(path);
  }

  /**
   * Another device is uploading a large file: fetch it ahead unless it is ignored here. A
   * preview is checked as a feed row is (its path valid and in normal form, its stretch of
   * chunks inside its size), and one that fails is passed over (and logged once).
   */
  preview(preview: UploadPreview): Promise<void> {
    const refusal = previewRefusal(preview);
    if (refusal) {
      if (!this.refusedPreviews.has(preview.upload)) {
        if (this.refusedPreviews.size >= 1000) this.refusedPreviews.clear();
        this.refusedPreviews.add(preview.upload);
        this.log(
          `${labelOf(preview.path, 0)}: the hub sent an invalid upload preview (${refusal}); ignored`,
        );
      }
      return Promise.resolve();
    }
    if (this.matcher?.(preview.path, false) === true) return Promise.resolve();
    if (this.store.isHeld(preview.path)) return Promise.resolve();
    return this.executor.preview(preview);
  }

  /** Drops what was fetched ahead and not used (the agent is stopping). */
  close(): Promise<void> {
    return this.executor.close();
  }

  /** Clears leftovers of a crash in `.tandem/tmp` (never the user's files). */
  async prepare(): Promise<void> {
    const tmp = absolute(this.options.root, `${STATE_DIR}/tmp`);
    await this.options.fs.removeTree(tmp);
    await this.options.fs.mkdir(tmp);
    await this.reserve.keep();
    // (Probed in `.tandem/tmp`, on the folder's disk, where no watcher reports the probe.)
    this.caseInsensitive = await this.options.fs.caseInsensitive(tmp).catch(() => false);
  }

  /**
   * Stops with SyncHalted when the folder or its `.tandem` is gone: an unmounted disk or a
   * deleted folder must never be taken for "the user deleted everything".
   */
  async checkFolder(): Promise<void> {
    const { fs, root } = this.options;
    const rootStat = await fs.lstat(root);
    const stateStat = await fs.lstat(absolute(root, STATE_DIR));
    if (rootStat?.kind !== 'dir' || stateStat?.kind !== 'dir') {
      throw new SyncHalted(
        `${root}${rootStat?.kind === 'dir' ? `/${STATE_DIR}` : ''} has disappeared (unmounted disk or deleted folder?); ` +
          'stopped without propagating anything. Restore it, or run `tandem sync` on the folder again to relink',
      );
    }
  }

  /**
   * Pulls the change feed up to the hub's head into the remote tree. A page that cannot be
   * put in order (see checkPage) fails the pull with a TandemError, and nothing of it is
   * applied; invalid rows in a page in order are passed over (see StateStore.applyChanges).
   */
  async pull(): Promise<void> {
    const { client, store, workspaceId } = this.options;
    const problems = await pullInto(store, client, workspaceId, {
      now: this.now,
      onCursorAhead: () =>
        this.log('the hub is behind this device (restored from a backup?): resyncing from zero'),
    });
    this.feedProblems.push(...problems);
  }

  /**
   * One round. Without `hints` the whole folder is scanned; with them (paths that may have
   * changed locally, from the watcher) only those are, and the rest comes from the last
   * scan. Throws SyncHalted, or what the hub client throws when the hub is unreachable.
   */
  async round(hints?: Iterable<string>): Promise<RoundResult> {
    const asked = hints === undefined ? undefined : [...hints];
    // (setRole may flip the flag while this round runs: what counts is what it planned with.)
    const readOnly = this.readOnly;
    try {
      return await this.roundOnce(asked);
    } catch (error) {
      // Write access taken away (or never given): from now on this device only receives.
      if (readOnly || !(error instanceof TandemError) || error.code !== 'FORBIDDEN') throw error;
      if (!this.readOnly) this.log(viewOnlyMessage(this.options.root));
      this.readOnly = true;
      return await this.roundOnce(undefined);
    }
  }

  /**
   * The hub says this device's user now has `role` on the workspace (the event socket does on
   * connect and on every change): a viewer only receives from now on, an editor or owner
   * sends its local changes again, those kept back included, from the next round. May be
   * called while a round runs (that round keeps what it planned with). Returns whether that
   * changed what this device may send.
   */
  setRole(role: Role): boolean {
    const readOnly = role === 'viewer';
    if (readOnly === this.readOnly) return false;
    this.readOnly = readOnly;
    this.log(
      readOnly
        ? viewOnlyMessage(this.options.root)
        : `you may now edit this workspace (${role}): local changes made here are uploaded`,
    );
    return true;
  }

  private async roundOnce(hints?: Iterable<string>): Promise<RoundResult> {
    const { fs, root, store, client, workspaceId } = this.options;
    const t0 = performance.now();
    await this.checkFolder();
    await this.pull();
    this.answerHeldDeletions();
    const tPulled = performance.now();
    if (hints === undefined) this.pendingHints = 'all';
    else if (this.pendingHints !== 'all') for (const hint of hints) this.pendingHints.add(hint);
    const pending = this.pendingHints;
    this.pendingHints = new Set();
    if (pending !== 'all' && pending.has(IGNORE_FILE)) this.matcher = undefined;
    const matcher = (this.matcher ??= makeIgnoreMatcher(await readIgnoreFile(fs, root)));
    // Bytes of small files read by this round's scan, for its uploads; dropped with the round.
    const contents = new ContentCache(CONTENT_CACHE_BYTES);
    const hashWrites: [string, HashRecord | undefined][] = [];
    // Large files' chunks go to the hub while they are hashed.
    const uploader = new ChunkUploader(client, workspaceId);
    const scanOptions: ScanOptions = {
      fs,
      root,
      isIgnored: matcher,
      hashes: store.hashes,
      known: store.base,
      chunkSink: (path: string, size: number, changed: () => Promise<boolean>) =>
        size >= UPLOAD_BATCH_BYTES
          ? new EarlyUpload(uploader, path, size, changed, size - store.remoteSize(path))
          : undefined,
      // Hashes are written in one transaction after the scan, not one per file.
      setHash: (path: string, record: HashRecord | undefined) => hashWrites.push([path, record]),
      now: this.now,
      keepContent: (path: string, contentId: ContentId, bytes: Uint8Array) =>
        contents.keep(path, contentId, bytes),
      ...(this.lastScan ? { spellings: this.lastScan.spellings } : {}),
    };
    let scan =
      pending === 'all' || !this.lastScan
        ? await scanTree(scanOptions)
        : await rescanPaths(scanOptions, this.lastScan, pending);
    if (scan.collisions.length > 0) scan = await this.moveAsideCollisions(scan, scanOptions);
    // (Best effort: what did not reach the hub is sent again before the commit.)
    await uploader.finish().catch(() => {});
    this.lastScan = scan;
    store.batch(() => {
      for (const [path, record] of hashWrites) store.setHash(path, record);
    });
    // A deleted `.tandem` between the scan and the plan must not look like a mass deletion.
    await this.checkFolder();
    // What the scan cannot sync stays listed in the state (for `tandem status`) while it
    // lasts; hub paths this disk cannot hold beside another are held there, and listed.
    this.problems.noteLocal(
      'scan',
      new Map(scan.problems.map((p) => [p.path, p.message])),
      this.now(),
    );
    const caseProblems = this.caseInsensitive
      ? this.problems.noteLocal('case', this.caseHeld(scan), this.now())
      : [];
    const tScanned = performance.now();
    const isIgnored = (path: string) =>
      matcher(path, kindAt(path, store.base, scan.local, store.remote) === 'dir');
    const trees = {
      base: store.base,
      local: client.hubModes ? scan.local : legacyModes(scan.local),
      remote: store.remote,
      skip: scan.skip,
      blocked: scan.special,
      isIgnored,
    };
    // Paths held by the feed, and changes that failed as they are asked now, wait (see
    // PathProblems); deletions wait until they have held a moment (see DeletionHold), and
    // the paths are looked at again when they are due, so only a deletion seen twice is sent.
    let hold: HoldResult | undefined;
    let problemsDueInMs: number | undefined;
    const attempted: Change[] = [];
    const ready = (planned: readonly Change[], deletions: boolean): readonly Change[] => {
      const waiting = this.problems.hold(this.sendable(planned), this.elapsed());
      problemsDueInMs = waiting.dueInMs;
      if (!deletions) return waiting.ready;
      const deferred = this.deletions.filter(waiting.ready, this.elapsed());
      // Too many deletions at once wait for the person (after the settle above, so a rename
      // seen in halves is a move by now; before the type changes, which wait on them).
      const guarded = this.guard.filter(
        deferred.ready,
        this.sendable(planned),
        store.base,
        this.now(),
        { settling: deferred.held.length, elapsed: this.elapsed() },
      );
      // A folder replaced by a file or a link goes with the deletions of what it held.
      const typed = holdTypeChanges(guarded.ready, planned);
      hold = {
        ...deferred,
        ready: typed.ready,
        held: [...deferred.held, ...guarded.waiting, ...typed.held],
      };
      if (this.pendingHints !== 'all') for (const path of hold.held) this.pendingHints.add(path);
      return hold.ready;
    };
    const first = plan(trees);
    // (A viewer's local changes stay here: counted, never sent.)
    let unsent = this.withheld(first.changes);
    let full = first.movesOnly ? undefined : this.sendable(first.changes);
    let changes = ready(first.changes, !first.movesOnly);
    attempted.push(...changes);
    let execution =
      changes.length > 0 ? await this.executor.execute(changes, contents) : emptyExecution();
    this.hintChanged(changes, execution);
    if (first.movesOnly && execution.applied === 0) {
      // No rename could be applied (the disk or the hub moved on since the scan): plan them
      // as delete + create instead, which always makes progress and loses nothing.
      const replanned = plan({ ...trees, detectMoves: false }).changes;
      unsent = this.withheld(replanned);
      full = this.sendable(replanned);
      changes = ready(full, true);
      attempted.push(...changes);
      const fallback = await this.executor.execute(changes, contents);
      this.hintChanged(changes, fallback);
      execution = { ...fallback, problems: [...execution.problems, ...fallback.problems] };
    }
    // (Special files are the store's problems, with what the hub has at their paths.)
    const scanProblems =
      scan.special.size === 0
        ? scan.problems
        : scan.problems.filter((p) => !scan.special.has(p.path));
    const reported = [
      ...this.feedProblems.splice(0),
      ...this.newScanProblems(scanProblems),
      ...this.settleSpecial(scan.special),
      ...caseProblems,
    ];
    reported.push(
      ...this.problems.settle({
        attempted,
        problems: execution.problems,
        planned: full,
        unknown: scan.skip,
        now: this.elapsed(),
        time: this.now(),
      }),
    );
    if (this.options.trace && changes.length > 0) {
      const ms = (from: number, to: number) => `${Math.round(to - from)} ms`;
      this.options.trace(
        `round: pull ${ms(t0, tPulled)}, scan ${ms(tPulled, tScanned)} (${scan.local.size} paths), ` +
          `execute ${ms(tScanned, performance.now())} (${changes.length} changes, ` +
          `${execution.uploaded} B up, ${execution.downloaded} B down)`,
      );
    }
    // (Let go when the disk filled up: taken again once there is room.)
    if (this.reserve.released) await this.reserve.keep();
    const heldDeletions = this.guard.heldFiles;
    this.logHeldDeletions(heldDeletions);
    const held = hold?.held.length ?? 0;
    const waits: number[] = [];
    if (scan.unstable.size > 0) waits.push(scan.settlesInMs ?? UNSTABLE_RETRY_MS);
    if (hold && held > 0) waits.push(hold.retryInMs);
    return {
      planned: changes.length,
      execution,
      ...madeHere(attempted, execution),
      unstable: scan.unstable.size + held,
      retryInMs: waits.length > 0 ? Math.min(...waits) : UNSTABLE_RETRY_MS,
      scanProblems,
      reported,
      problems: this.problems.count,
      problemsDueInMs,
      unsent,
      heldDeletions,
    };
  }

  /** Files whose deletion the mass-deletion guard holds, unconfirmed. */
  get heldDeletions(): number {
    return this.guard.heldFiles;
  }

  /** Why they are held, in words, if any are. */
  get heldReason(): string | undefined {
    return this.guard.heldReason;
  }

  /**
   * Carries out the person's answer to the held deletions, if one is waiting in the state
   * database (written by `tandem sync DIR --confirm-deletions` or `--restore-held`, maybe
   * while this agent runs): confirmed, this round sends them; restored, their base is
   * forgotten, so this round downloads them from the hub.
   */
  private answerHeldDeletions(): void {
    const answer = this.options.store.takeDeletionRequest();
    if (!answer) return;
    this.guard.reload();
    this.holdLogged = false;
    const n = answer.paths.length;
    this.log(
      answer.request === 'confirm'
        ? `sending ${n} held deletion(s), as confirmed`
        : `bringing back from the hub ${n} path(s) whose deletion was held`,
    );
  }

  /** Says once, while deletions are held, how many and why, and what the person can do. */
  private logHeldDeletions(files: number): void {
    if (files === 0) {
      this.holdLogged = false;
      return;
    }
    if (this.holdLogged) return;
    this.holdLogged = true;
    const root = this.options.root;
    this.log(
      `holding ${files} local deletion(s): ${this.guard.heldReason ?? 'too many files deleted at once'}; ` +
        `nothing is deleted on the hub or other devices until you run \`tandem sync ${root} --confirm-deletions\` ` +
        `(or \`tandem sync ${root} --restore-held\` to bring the files back from the hub)`,
    );
  }

  /** The changes this device may make: all, or for a viewer none that writes to the hub. */
  private sendable(changes: readonly Change[]): readonly Change[] {
    return this.readOnly ? changes.filter((c) => !isPush(c)) : changes;
  }

  /** How many of `changes` this device may not make (a viewer's local changes). */
  private withheld(changes: readonly Change[]): number {
    return this.readOnly ? changes.filter(isPush).length : 0;
  }

  /**
   * Keeps the `local` problems as this scan found them: one per path a pipe, socket or device
   * stands at, saying what the hub has there if anything (it cannot arrive until the thing is
   * moved). They are stored, so `tandem status` and `sync --once` see them like any other.
   * Returns those new or changed, to tell once.
   */
  private settleSpecial(special: ReadonlyMap<string, SpecialKind | undefined>): Problem[] {
    const { store } = this.options;
    if (special.size === 0 && store.problems.size === 0) return [];
    const fresh: Problem[] = [];
    for (const [path, kind] of special) {
      const message = specialMessage(kind, store.remote.get(path)?.entry.kind);
      const previous = store.problems.get(path);
      // (A path the feed holds keeps that problem, as it does against a failed change.)
      if (previous?.kind === 'feed') continue;
      if (previous?.kind === 'local' && previous.message === message) continue;
      const since = previous?.kind === 'local' ? previous.since : this.now();
      store.setProblem(path, { kind: 'local', message, since });
      fresh.push({ path, message });
    }
    for (const [path, problem] of [...store.problems])
      if (problem.kind === 'local' && !special.has(path)) store.setProblem(path, undefined);
    return fresh;
  }

  /**
   * Takes in a round that failed, and says why in words when the cause is the local disk:
   * the state database cannot be written (SQLite's "database or disk is full": then the
   * disk's reserve is let go, and the problem recorded under `.tandem` until a round
   * succeeds), or the disk refused another write. The runner logs it once and tries again
   * on its backoff; nothing is lost meanwhile (what the database did not record, the next
   * round plans again). Other errors keep their message.
   */
  async failed(error: unknown): Promise<string> {
    const { fs, root, store } = this.options;
    const code = errorCode(error);
    if (code === 'SQLITE_FULL') {
      const free = await fs.freeSpace(root).catch(() => undefined);
      const message = `${spaceMessage(root, free, undefined)}, so ${STATE_DIR}/state.db cannot record what is synced; free some space, and syncing goes on`;
      // The reserve makes room to record this for `tandem status`, and for the rounds after
      // it, which record each download the disk has no room for as a problem of its own.
      await this.reserve.release();
      try {
        store.setProblem(STATE_DIR, { kind: 'apply', message, since: this.now() });
      } catch {
        // (Still full: the log line is all there is.)
      }
      return message;
    }
    if (code?.startsWith('SQLITE_'))
      return `cannot write ${root}/${STATE_DIR}/state.db: ${describeLocalError(error)}`;
    if (isDiskRefusal(error)) return (await diskProblem(fs, root, error)).message;
    return (error as Error).message;
  }

  /**
   * Names of one folder that are one path (they differ only in Unicode form): each that did
   * not keep the path is renamed to a conflicted copy of it and scanned again, so it is sent
   * as a new file this round. One that cannot be renamed is a problem of the path.
   */
  private async moveAsideCollisions(scan: ScanResult, options: ScanOptions): Promise<ScanResult> {
    const moved: string[] = [];
    for (const collision of scan.collisions) {
      try {
        const copy = await this.executor.moveAside(collision, scan.local);
        if (copy !== undefined) moved.push(copy);
      } catch (error) {
        scan.problems.push({
          path: collision.path,
          message: `two names in its folder are this one path (they differ only in Unicode form), and one could not be renamed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): rename one of them`,
        });
      }
    }
    if (moved.length === 0) return scan;
    return rescanPaths({ ...options, spellings: scan.spellings }, scan, new Set(moved));
  }

  /**
   * The hub paths this disk cannot hold beside another that differs only in case, with why:
   * found again only when the feed moved (the choice of which is kept is stable, see
   * caseCollisions). They are held, and listed, while that lasts.
   */
  private caseHeld(scan: ScanResult): Map<string, string> {
    const { store } = this.options;
    if (store.cursor !== this.caseCursor) {
      this.caseLosers = caseCollisions(
        store.remote.keys(),
        (path) => store.base.has(path),
        (path) => scan.local.has(path),
      );
      this.caseCursor = store.cursor;
    }
    const out = new Map<string, string>();
    for (const [path, kept] of this.caseLosers)
      out.set(
        path,
        `the hub also has "${kept}", which differs from it only in case, and this disk does not tell them apart: "${kept}" is kept here and this one is not synced to this device; rename one of them on another device to have both`,
      );
    return out;
  }

  /** The scan's problems not reported last round (each is told once while it lasts). */
  private newScanProblems(problems: readonly Problem[]): Problem[] {
    const previous = this.scanProblems;
    this.scanProblems = new Map(problems.map((p) => [p.path, p.message]));
    return problems.filter((p) => previous.get(p.path) !== p.message);
  }

  /**
   * Runs rounds until one plans nothing and no path is waiting to settle, or until
   * `maxRounds`, looking again at waiting paths when due (but at least every `maxWaitMs`).
   * Returns the last round.
   */
  async syncUntilIdle(maxRounds = 50, maxWaitMs = UNSTABLE_RETRY_MS): Promise<RoundResult> {
    let last: RoundResult | undefined;
    for (let i = 0; i < maxRounds; i++) {
      last = await this.round();
      if (last.planned === 0 && last.unstable === 0) return last;
      if (last.planned === 0 && last.unstable > 0) await sleep(Math.min(maxWaitMs, last.retryInMs));
    }
    return last!;
  }
}

/**
 * What is wrong at a path a special file stands at: only that it is not synced, or, when the
 * hub has something there, that it blocks it (the same first words as the scan's problem).
 */
export function specialMessage(
  kind: SpecialKind | undefined,
  hubHas: 'file' | 'dir' | 'symlink' | undefined,
): string {
  const what = describeSpecial(kind);
  if (hubHas === undefined) return `${what} is not synced`;
  const there = { file: 'a file', dir: 'a folder', symlink: 'a symbolic link' }[hubHas];
  return `the hub has ${there} here; ${what} stands in its way: move it`;
}

/** Why an upload preview cannot be used, or undefined (its shape was checked on arrival). */
function previewRefusal(preview: UploadPreview): string | undefined {
  const path = checkPath(preview.path);
  if (!path.ok) return path.reason;
  if (path.path !== preview.path) return 'a path must be in Unicode normal form C';
  if (!Number.isSafeInteger(preview.size) || preview.size < 0 || preview.size > MAX_FILE_BYTES)
    return `its size ${preview.size} is not a file size`;
  let end = preview.at;
  for (const chunk of preview.chunks) {
    if (chunk.size > MAX_CHUNK_BYTES) return `a chunk of ${chunk.size} bytes is larger than any`;
    end += chunk.size;
  }
  return end > preview.size
    ? `its chunks end at byte ${end}, past its size ${preview.size}`
    : undefined;
}

function kindAt(
  path: string,
  ...trees: Tree<BaseNode | LocalNode | RemoteNode>[]
): string | undefined {
  for (const tree of trees) {
    const node = tree.get(path);
    if (node) return node.entry.kind;
  }
  return undefined;
}

function emptyExecution(): ExecutionResult {
  return { applied: 0, problems: [], uploaded: 0, downloaded: 0, touched: [] };
}

/** No path spelled otherwise on disk (before the first scan). */
const NO_SPELLINGS = new Spellings();

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { Change };

/** A change that writes to the hub. */
function isPush(change: Change): boolean {
  return change.type.startsWith('push-');
}

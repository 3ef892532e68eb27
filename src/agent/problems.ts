/**
 * Paths the agent could not sync, and when to try each again. A change that fails (a value
 * the disk refuses, a manifest that does not verify, a chunk that arrives wrong, a commit
 * the hub rejects) is recorded as a problem of its path, in the state database for `tandem
 * status`, and told to the person once. The same change is then not tried again before its
 * retry is due: 2 s after the first failure, doubling up to 5 minutes, so a failure that
 * persists costs a request now and then, not a loop. A change that differs from the one that
 * failed (the file was edited here, the hub sent a newer version) is tried at once: what
 * failed is not what is asked now.
 *
 * A problem is forgotten when its path syncs: a change for it succeeded, or nothing is left
 * to do there. Problems of the feed (the hub sent an invalid change) are the state store's:
 * their paths are held until the hub sends a valid change (see StateStore.applyChanges).
 */
import type { Entry, LocalNode } from '../core/entry.js';
import type { Change } from '../core/planner.js';
import { isInside } from '../core/paths.js';
import type { Problem } from './scanner.js';
import type { StateStore } from './state-store.js';

export const FIRST_RETRY_MS = 2_000;
export const MAX_RETRY_MS = 5 * 60_000;

interface Retry {
  /** What was asked when it failed (`changeKey`). */
  readonly key: string;
  readonly failures: number;
  /** When it may be tried again (on the engine's monotonic clock). */
  readonly dueAt: number;
}

export interface ProblemHold {
  /** The changes to make now. */
  readonly ready: Change[];
  /** Changes not made: their paths wait for a retry, or are held by the feed. */
  readonly waiting: number;
  /** When the first waiting retry is due (ms from now), if any is. */
  readonly dueInMs: number | undefined;
}

export class PathProblems {
  private readonly retries = new Map<string, Retry>();

  constructor(private readonly store: StateStore) {}

  /** How many paths have a problem now (of the feed or of a change). */
  get count(): number {
    return this.store.problems.size;
  }

  /**
   * Leaves out of a plan the changes of paths held by the feed, and those that failed as they
   * are asked now and whose retry is not due at `now`.
   */
  hold(changes: readonly Change[], now: number): ProblemHold {
    if (this.retries.size === 0 && this.store.problems.size === 0)
      return { ready: changes.slice(), waiting: 0, dueInMs: undefined };
    const ready: Change[] = [];
    let waiting = 0;
    let dueInMs: number | undefined;
    for (const change of changes) {
      if (pathsOf(change).some((path) => this.store.isHeld(path))) {
        waiting++;
        continue;
      }
      const retry = this.retries.get(problemPathOf(change));
      if (retry && retry.dueAt > now && retry.key === changeKey(change)) {
        waiting++;
        dueInMs = Math.min(dueInMs ?? Infinity, retry.dueAt - now);
        continue;
      }
      ready.push(change);
    }
    return { ready, waiting, dueInMs };
  }

  /**
   * Takes in what a round did: `attempted` changes, the `problems` they met, and `planned`,
   * the round's whole plan before anything was held back (undefined when the round planned
   * only renames, which says nothing of other paths). Paths in `unknown` (not scanned this
   * round) keep their problems. Returns the problems new or changed, to tell once.
   */
  settle(round: {
    readonly attempted: readonly Change[];
    readonly problems: readonly Problem[];
    readonly planned: readonly Change[] | undefined;
    readonly unknown: ReadonlySet<string>;
    /** The engine's monotonic clock, for retries. */
    readonly now: number;
    /** The time of day, for `since`. */
    readonly time: number;
  }): Problem[] {
    const { store } = this;
    // (The common round: nothing failed, nothing failed before. A round of 10,000 downloads
    // then costs no index of its paths.)
    if (round.problems.length === 0 && this.retries.size === 0 && store.problems.size === 0)
      return [];
    const fresh: Problem[] = [];
    const failed = new Map<string, Problem>();
    for (const problem of round.problems) failed.set(problem.path, problem);
    const asked = new Map<string, Change>();
    for (const change of round.attempted) asked.set(problemPathOf(change), change);
    for (const [path, { message, retryWithinMs }] of failed) {
      const previous = store.problems.get(path);
      // A path the feed holds keeps that problem: it says more than what failed meanwhile.
      if (previous?.kind === 'feed' || previous?.kind === 'case') continue;
      const change = asked.get(path);
      const retry = this.retries.get(path);
      const failures = (retry?.failures ?? 0) + 1;
      // (Trouble that ends without an event, such as a full disk, is looked at again soon.)
      const wait = Math.min(
        FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 20),
        retryWithinMs ?? MAX_RETRY_MS,
        MAX_RETRY_MS,
      );
      this.retries.set(path, {
        key: change ? changeKey(change) : '',
        failures,
        dueAt: round.now + wait,
      });
      if (previous?.message === message) continue;
      store.setProblem(path, { kind: 'apply', message, since: previous?.since ?? round.time });
      fresh.push({ path, message });
    }
    // Synced: a change for the path went through, or nothing is left to do there.
    const synced: string[] = [];
    for (const path of asked.keys()) if (!failed.has(path)) synced.push(path);
    if (round.planned) {
      const pending = new Set<string>();
      for (const change of round.planned) for (const path of pathsOf(change)) pending.add(path);
      for (const [path, problem] of store.problems)
        if (problem.kind === 'apply' && !pending.has(path) && !round.unknown.has(path))
          synced.push(path);
      for (const path of this.retries.keys())
        if (!pending.has(path) && !round.unknown.has(path)) synced.push(path);
    }
    for (const path of synced) this.forget(path);
    return fresh;
  }

  /**
   * Makes the stored problems of `kind` (`scan`: what the last scan could not sync; `case`:
   * hub paths this disk cannot hold) exactly `current`, path -> message, so that `tandem
   * status` lists each while it lasts and none after. A path the feed holds keeps that
   * problem; a `case` problem replaces one of a change that failed there (it says why), and a
   * `scan` problem gives way to any other. Returns those new or changed, to tell once.
   */
  noteLocal(kind: 'scan' | 'case', current: ReadonlyMap<string, string>, time: number): Problem[] {
    const { store } = this;
    const fresh: Problem[] = [];
    for (const [path, problem] of [...store.problems])
      if (problem.kind === kind && !current.has(path)) store.setProblem(path, undefined);
    for (const [path, message] of current) {
      const previous = store.problems.get(path);
      if (previous?.kind === kind && previous.message === message) continue;
      if (previous && previous.kind !== kind && (kind === 'scan' || previous.kind === 'feed'))
        continue;
      store.setProblem(path, { kind, message, since: previous?.since ?? time });
      fresh.push({ path, message });
    }
    return fresh;
  }

  /** Forgets the problem of a synced path, and makes the retries of paths inside it due now. */
  private forget(path: string): void {
    const hadRetry = this.retries.delete(path);
    if (this.store.problems.get(path)?.kind === 'apply') this.store.setProblem(path, undefined);
    if (!hadRetry) return;
    // (What failed inside a folder may have failed because of it: a link or file in its place.)
    for (const [inside, retry] of this.retries)
      if (isInside(inside, path)) this.retries.set(inside, { ...retry, dueAt: 0 });
  }
}

/** The path a change's problem is reported under (as the executor reports it). */
export function problemPathOf(change: Change): string {
  switch (change.type) {
    case 'pull-move':
      return change.from;
    case 'push-move':
      return change.to;
    default:
      return change.path;
  }
}

function pathsOf(change: Change): string[] {
  return 'from' in change ? [change.from, change.to] : [change.path];
}

/**
 * What a change asks, in a few characters: the same key means the same change on the same
 * states (the hub's seq, the local node and its contents), which would fail the same way.
 */
export function changeKey(change: Change): string {
  switch (change.type) {
    case 'push-put':
      return `push-put ${change.base} ${nodeKey(change.local)}`;
    case 'push-delete':
      return `push-delete ${change.base}`;
    case 'push-move':
      return `push-move ${change.from} ${change.base} ${nodeKey(change.local)}`;
    case 'pull-put':
      return `pull-put ${change.remote.seq} ${nodeKey(change.local)}`;
    case 'pull-delete':
      return `pull-delete ${nodeKey(change.local)}`;
    case 'pull-move':
      return `pull-move ${change.to} ${change.remote.seq} ${nodeKey(change.local)}`;
    case 'conflict':
      return `conflict ${change.remote.seq} ${nodeKey(change.local)}`;
    case 'record':
      return 'record';
  }
}

function nodeKey(local: LocalNode | undefined): string {
  return local ? `${local.ino}:${entryKey(local.entry)}` : '-';
}

function entryKey(entry: Entry): string {
  switch (entry.kind) {
    case 'file':
      return `${entry.contentId}:${entry.size}:${entry.mtime}:${entry.mode}`;
    case 'dir':
      return `dir:${entry.mode}`;
    case 'symlink':
      return `link:${entry.target}`;
  }
}

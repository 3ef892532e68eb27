/**
 * The mass-deletion guard. A folder emptied by a failing disk, a mistaken `rm -rf`, or a
 * script gone wrong looks to the planner like the person deleting every file, and sent at
 * once it empties every other device. When one round would delete too much (more than
 * `maxFiles` files, or more than `maxShare` of the files of the whole tree or of one
 * top-level folder, once at least SHARE_FLOOR_FILES files would go), the round's deletions
 * are held instead, in `state.db`, until the person answers: `tandem sync DIR
 * --confirm-deletions` sends them, `--restore-held` brings the files back from the hub.
 *
 * Only local deletions (`push-delete`) are counted: the hub's deletions are applied as they
 * come, and renames are moves (found by the planner, and by DeletionHold's settle, before
 * the guard looks). A deletion whose bytes reappear at a new path in the same plan (a move
 * planned as delete + create) is not counted: nothing is lost with it.
 */
import type { BaseNode, Tree } from '../core/entry.js';
import { ancestorsOf } from '../core/paths.js';
import type { Change, PushDelete } from '../core/planner.js';
import type { HeldDeletion, StateStore } from './state-store.js';

/** When a round's local deletions are too many to send without asking. */
export interface DeletionLimits {
  /** Hold when more than this many files would be deleted at once. */
  readonly maxFiles: number;
  /**
   * Hold when more than this share (0 < share <= 1) of the files of the tree, or of one
   * top-level folder, would be deleted at once (1: never by share).
   */
  readonly maxShare: number;
}

export const DEFAULT_DELETION_LIMITS: DeletionLimits = { maxFiles: 500, maxShare: 0.5 };

/**
 * The share rule applies only when at least this many files would go: deleting 3 of the 4
 * files of a small folder, or 40 of the 60 of a young workspace, is everyday work.
 */
export const SHARE_FLOOR_FILES = 50;

/** The smallest `maxFiles` a person may set (0 would hold every single deletion). */
export const MIN_MAX_FILES = 1;

/**
 * How long settled deletions wait at most for a burst to end (while new deletions keep
 * appearing): a script or a slow `rm` deleting steadily is judged as the whole it becomes,
 * not in slices each below the limits.
 */
export const BURST_MAX_MS = 10_000;

/**
 * Why deleting the files `deleted` (paths of the base tree: files and links, folders left
 * out) at once is too much against `base`, or undefined when it is not. Pure.
 */
export function massDeletion(
  deleted: readonly string[],
  base: Tree<BaseNode>,
  limits: DeletionLimits,
): string | undefined {
  const count = deleted.length;
  if (count > limits.maxFiles)
    return `${count} files would be deleted at once (more than ${limits.maxFiles})`;
  if (count < SHARE_FLOOR_FILES || limits.maxShare >= 1) return undefined;
  // The denominators: the files (not folders) this device last agreed on, in all and per
  // top-level folder.
  let total = 0;
  const inFolder = new Map<string, number>();
  for (const [path, node] of base) {
    if (node.entry.kind === 'dir') continue;
    total++;
    const top = topFolder(path);
    if (top !== undefined) inFolder.set(top, (inFolder.get(top) ?? 0) + 1);
  }
  if (count > limits.maxShare * total)
    return `${count} of the ${total} files would be deleted at once (more than ${percent(limits.maxShare)})`;
  const goingFrom = new Map<string, number>();
  for (const path of deleted) {
    const top = topFolder(path);
    if (top !== undefined) goingFrom.set(top, (goingFrom.get(top) ?? 0) + 1);
  }
  for (const [top, going] of [...goingFrom].sort((a, b) => b[1] - a[1])) {
    const files = inFolder.get(top) ?? going;
    if (going >= SHARE_FLOOR_FILES && going > limits.maxShare * files)
      return `${going} of the ${files} files in ${top}/ would be deleted at once (more than ${percent(limits.maxShare)})`;
  }
  return undefined;
}

export interface GuardResult {
  /** The changes to carry out now: `ready` without the deletions held. */
  readonly ready: Change[];
  /** Files (and links) held now, unconfirmed: what `tandem status` reports. */
  readonly heldFiles: number;
  /** Paths newly held this round (folders included). */
  readonly added: number;
  /**
   * Deletions left out this round, not held: they wait for the burst they are part of to
   * end (see BURST_MAX_MS); look again when the deletions still settling are due.
   */
  readonly waiting: string[];
  /** Why, when the guard tripped this round. */
  readonly reason: string | undefined;
}

/**
 * Applies the limits to each round's deletions and keeps the held ones in the state
 * database. One per engine; not for concurrent rounds.
 */
export class DeletionGuard {
  constructor(
    private readonly store: StateStore,
    private readonly limits: DeletionLimits = DEFAULT_DELETION_LIMITS,
  ) {}

  /** Since when (monotonic ms) settled deletions have waited for a burst to end. */
  private burstSince: number | undefined;

  /** The held deletions, as this guard last wrote them (loaded on first use). */
  private cache: Map<string, HeldDeletion> | undefined;

  private get held(): Map<string, HeldDeletion> {
    return (this.cache ??= this.store.heldDeletions());
  }

  /** How many files are held, unconfirmed. */
  get heldFiles(): number {
    let n = 0;
    for (const held of this.held.values()) if (!held.confirmed && held.kind !== 'dir') n++;
    return n;
  }

  /** Why the held deletions were held (the first one's reason), if any are. */
  get heldReason(): string | undefined {
    for (const held of this.held.values()) if (!held.confirmed) return held.reason;
    return undefined;
  }

  /** Reloads the holds from the database (after the person's answer changed them). */
  reload(): void {
    this.cache = undefined;
  }

  /**
   * Filters `ready` (the changes about to be made, after DeletionHold) against the whole
   * `planned` plan they come from (this device's sendable changes): holds every deletion
   * already held and not confirmed, and, when the plan's unconfirmed deletions are too many
   * (see massDeletion; deletions still settling count too, so a burst is judged whole), every
   * other deletion of the plan as well, once one of them is ready to go. A folder's deletion
   * waits while something held lies inside it. A held path the plan no longer deletes (it
   * came back, or the hub changed it, or it was sent) is forgotten. `now` stamps new holds
   * (ms since the epoch). With `burst` (how many deletions still settle, and a monotonic
   * clock), deletions not held wait while others still settle, up to BURST_MAX_MS.
   */
  filter(
    ready: readonly Change[],
    planned: readonly Change[],
    base: Tree<BaseNode>,
    now: number,
    burst?: { readonly settling: number; readonly elapsed: number },
  ): GuardResult {
    const held = this.held;
    const deletions = planned.filter((c): c is PushDelete => c.type === 'push-delete');
    const deleting = new Set(deletions.map((c) => c.path));
    const writes: [string, HeldDeletion | undefined][] = [];
    for (const path of held.keys()) if (!deleting.has(path)) writes.push([path, undefined]);
    for (const [path] of writes) held.delete(path);

    const isFile = (path: string) => base.get(path)?.entry.kind !== 'dir';
    const moved = uncountedMoves(deletions, planned, base);
    const judged = deletions
      .filter((c) => isFile(c.path) && !moved.has(c.path) && held.get(c.path)?.confirmed !== true)
      .map((c) => c.path);
    const reason = massDeletion(judged, base, this.limits);
    const hold = (path: string, why: string) => {
      const entry: HeldDeletion = {
        kind: base.get(path)?.entry.kind ?? 'file',
        reason: why,
        since: now,
        confirmed: false,
      };
      held.set(path, entry);
      writes.push([path, entry]);
    };
    // Held only once one of them is about to go: while all still settle, they may yet be half
    // of a rename (see DeletionHold), and a false alarm would be logged and shown.
    const going = ready.some((c) => c.type === 'push-delete' && !held.has(c.path));
    let added = 0;
    if (reason !== undefined && going)
      for (const c of deletions)
        if (!held.has(c.path) && !moved.has(c.path)) {
          hold(c.path, reason);
          added++;
        }
    // A folder goes after what it holds: its deletion waits while anything inside is held.
    // (Each folder above a held path, with that path's reason: one pass over the holds.)
    const above = new Map<string, string>();
    for (const [path, h] of held)
      if (!h.confirmed)
        for (const folder of ancestorsOf(path)) if (!above.has(folder)) above.set(folder, h.reason);
    if (above.size > 0)
      for (const c of deletions) {
        const why = above.get(c.path);
        if (why === undefined || held.has(c.path)) continue;
        hold(c.path, why);
        added++;
      }
    if (writes.length > 0) this.store.setHeldDeletions(writes);
    // Deletions neither held nor confirmed wait while more are still appearing: they go once
    // the burst has ended (nothing settles any more) and still does not trip the limits, or
    // once they have waited BURST_MAX_MS.
    const free = ready.filter(
      (c): c is PushDelete => c.type === 'push-delete' && !held.has(c.path),
    );
    let waiting: string[] = [];
    if (burst === undefined || burst.settling === 0) this.burstSince = undefined;
    else if (free.length > 0) {
      this.burstSince ??= burst.elapsed;
      if (burst.elapsed - this.burstSince < BURST_MAX_MS) waiting = free.map((c) => c.path);
    }
    const wait = new Set(waiting);
    const out = ready.filter(
      (c) =>
        c.type !== 'push-delete' || (held.get(c.path)?.confirmed !== false && !wait.has(c.path)),
    );
    return { ready: out, heldFiles: this.heldFiles, added, reason, waiting };
  }
}

/**
 * Deletions whose bytes reappear at a path new to base in the same plan (a move planned as a
 * delete and a create): each new file vouches for one deleted file with the same content, so
 * 600 deleted empty files are not excused by one new empty file.
 */
function uncountedMoves(
  deletions: readonly PushDelete[],
  planned: readonly Change[],
  base: Tree<BaseNode>,
): Set<string> {
  const created = new Map<string, number>();
  for (const c of planned) {
    if (c.type !== 'push-put' || base.has(c.path) || c.local.entry.kind !== 'file') continue;
    const id = c.local.entry.contentId;
    created.set(id, (created.get(id) ?? 0) + 1);
  }
  const out = new Set<string>();
  if (created.size === 0) return out;
  for (const c of deletions) {
    const entry = base.get(c.path)?.entry;
    if (entry?.kind !== 'file') continue;
    const left = created.get(entry.contentId) ?? 0;
    if (left === 0) continue;
    created.set(entry.contentId, left - 1);
    out.add(c.path);
  }
  return out;
}

function topFolder(path: string): string | undefined {
  const at = path.indexOf('/');
  return at < 0 ? undefined : path.slice(0, at);
}

function percent(share: number): string {
  return share === 0.5 ? 'half' : `${Math.round(share * 1000) / 10}%`;
}

/**
 * The planner: a pure function of the three trees (DESIGN.md "The agent's three trees").
 *
 * - base:   what both sides agreed on at the last sync of each path;
 * - local:  what the disk holds now;
 * - remote: what the hub holds now (its change feed, applied up to the cursor).
 *
 * It returns the changes to make on each side. It never touches the disk or the network, so
 * the same function runs against the real filesystem and the in-memory one.
 */
import type { BaseNode, Entry, LocalNode, RemoteNode, Tree } from './entry.js';
import { sameBytes, sameButMtime, sameEntry } from './entry.js';
import type { Seq } from './ids.js';
import { ancestorsOf, comparePaths, depthOf, isSameOrInside, rebase } from './paths.js';

/** Send a local creation or modification to the hub. */
export interface PushPut {
  readonly type: 'push-put';
  readonly path: string;
  /** The seq the hub must still hold for the path (0: the path must not exist). */
  readonly base: Seq;
  readonly local: LocalNode;
}

/** Send a local deletion to the hub. */
export interface PushDelete {
  readonly type: 'push-delete';
  readonly path: string;
  readonly base: Seq;
}

/** Send a local rename of a file or a whole folder as one move. */
export interface PushMove {
  readonly type: 'push-move';
  readonly from: string;
  readonly to: string;
  readonly base: Seq;
  readonly local: LocalNode;
}

/** Write the hub's version of a path to disk; the disk must still hold `local`. */
export interface PullPut {
  readonly type: 'pull-put';
  readonly path: string;
  readonly remote: RemoteNode;
  /** What the disk held when planned (undefined: nothing); checked before writing. */
  readonly local: LocalNode | undefined;
}

/** Remove a path the hub deleted; the disk must still hold `local`. */
export interface PullDelete {
  readonly type: 'pull-delete';
  readonly path: string;
  readonly local: LocalNode;
}

/** Rename a local file or folder the way the hub did; the disk must still hold `local`. */
export interface PullMove {
  readonly type: 'pull-move';
  readonly from: string;
  readonly to: string;
  readonly remote: RemoteNode;
  readonly local: LocalNode;
}

/**
 * Both sides changed a path differently: the hub's version keeps the path, the local
 * version moves aside to a conflicted copy (and is uploaded from there).
 */
export interface Conflict {
  readonly type: 'conflict';
  readonly path: string;
  readonly local: LocalNode;
  readonly remote: RemoteNode;
}

/** Both sides already agree: only the base needs writing (or forgetting, when undefined). */
export interface Record {
  readonly type: 'record';
  readonly path: string;
  readonly base: BaseNode | undefined;
}

export type Change =
  PushPut | PushDelete | PushMove | PullPut | PullDelete | PullMove | Conflict | Record;
export const CHANGE_TYPES = [
  'push-put',
  'push-delete',
  'push-move',
  'pull-put',
  'pull-delete',
  'pull-move',
  'conflict',
  'record',
] as const satisfies readonly Change['type'][];

export interface PlanInput {
  readonly base: Tree<BaseNode>;
  readonly local: Tree<LocalNode>;
  readonly remote: Tree<RemoteNode>;
  /** Paths whose local state is unknown this round (still being written, unreadable). */
  readonly skip?: ReadonlySet<string>;
  /** Paths Tandem never syncs (editor temp files, `.tandemignore`). */
  readonly isIgnored?: (path: string) => boolean;
  /**
   * Paths the disk holds something at that cannot be synced (a pipe, a socket, a device).
   * Nothing is done there or below: nothing written, nothing sent, and in particular no
   * deletion inferred. What base says of them (and below) is forgotten, so that once the
   * thing is moved away the hub's version is received rather than a deletion sent.
   */
  readonly blocked?: ReadonlySet<string> | ReadonlyMap<string, unknown>;
  /** Look for renames (default). Off, renames are planned as delete + create. */
  readonly detectMoves?: boolean;
}

export interface Plan {
  readonly changes: readonly Change[];
  /** True when the plan holds only moves: apply them, then plan again. */
  readonly movesOnly: boolean;
}

/**
 * Plans one round. Moves come first and alone: when any rename is found, the plan holds only
 * renames (applied, they change the trees, and the next round plans the rest). Otherwise
 * every path is decided on its own by the table in DESIGN.md.
 *
 * Guarantees: no change overwrites or deletes local data without naming the local state it
 * expects; a local version that loses against the hub becomes a conflict (kept as a copy),
 * never a silent overwrite; identical content on both sides is never a conflict.
 */
export function plan(input: PlanInput): Plan {
  const moves = input.detectMoves === false ? [] : planMoves(input);
  if (moves.length > 0) return { changes: moves, movesOnly: true };
  // Every path is looked at, but few need a change: only those are checked against the
  // ignore rules and sorted (parents before children), not the whole tree.
  const { base, local, remote } = input;
  const changes: Change[] = [];
  const blocked = input.blocked !== undefined && input.blocked.size > 0 ? input.blocked : undefined;
  const consider = (path: string) => {
    if (blocked && atOrBelow(blocked, path)) {
      // Not a deletion: forget the agreement, keep the hub's version for later.
      if (base.has(path)) changes.push({ type: 'record', path, base: undefined });
      return;
    }
    const change = planPath(path, base.get(path), local.get(path), remote.get(path));
    if (change && !excluded(input, path)) changes.push(change);
  };
  for (const path of base.keys()) consider(path);
  for (const path of local.keys()) if (!base.has(path)) consider(path);
  for (const path of remote.keys()) if (!base.has(path) && !local.has(path)) consider(path);
  changes.sort((a, b) => comparePaths(pathOf(a), pathOf(b)));
  return { changes, movesOnly: false };
}

/**
 * Paths the round must leave alone: state unknown this round (the path or a folder above it:
 * an unreadable folder says nothing of what it holds), blocked, or never synced.
 */
function excluded(input: PlanInput, path: string): boolean {
  if (input.skip !== undefined && input.skip.size > 0 && atOrBelow(input.skip, path)) return true;
  if (input.blocked !== undefined && input.blocked.size > 0 && atOrBelow(input.blocked, path))
    return true;
  return input.isIgnored?.(path) === true;
}

/** True when `path` or a folder above it is in `paths`. */
function atOrBelow(
  paths: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  path: string,
): boolean {
  if (paths.has(path)) return true;
  for (let at = path.indexOf('/'); at > 0; at = path.indexOf('/', at + 1))
    if (paths.has(path.slice(0, at))) return true;
  return false;
}

function pathOf(change: Change): string {
  return 'path' in change ? change.path : change.to;
}

/** The decision table for one path, with no renames involved. */
export function planPath(
  path: string,
  base: BaseNode | undefined,
  local: LocalNode | undefined,
  remote: RemoteNode | undefined,
): Change | undefined {
  const localChanged = !sameEntry(base?.entry, local?.entry);
  const remoteChanged = (base?.seq ?? 0) !== (remote?.seq ?? 0);

  if (!localChanged && !remoteChanged) {
    // Same on all sides; keep the recorded inode current so later renames are recognised.
    if (base && local && base.ino !== local.ino) {
      return { type: 'record', path, base: { ...base, ino: local.ino } };
    }
    return undefined;
  }

  if (localChanged && !remoteChanged) {
    // Only the disk changed: the hub still holds base, so base's seq is the CAS guard.
    if (!local) return { type: 'push-delete', path, base: base!.seq };
    return { type: 'push-put', path, base: remote?.seq ?? 0, local };
  }

  if (!localChanged && remoteChanged) {
    // Only the hub changed: the disk still holds base (or nothing), which the executor re-checks.
    if (!remote) {
      if (!local) return { type: 'record', path, base: undefined };
      return { type: 'pull-delete', path, local };
    }
    return { type: 'pull-put', path, remote, local };
  }

  // Both changed.
  if (sameEntry(local?.entry, remote?.entry)) {
    // They changed to the same thing: agree without transferring anything.
    if (!remote || !local) return { type: 'record', path, base: undefined };
    return {
      type: 'record',
      path,
      base: { entry: remote.entry, seq: remote.seq, node: remote.node, ino: local.ino },
    };
  }
  if (!local) return { type: 'pull-put', path, remote: remote!, local }; // deleted here, modified there: modification wins
  if (!remote) return { type: 'push-put', path, base: 0, local }; // modified here, deleted there: modification wins
  if (sameBytes(local.entry, remote.entry) || bothFolders(local.entry, remote.entry)) {
    // Identical bytes are never a conflict, and two folders neither: only the mode or the mtime
    // differs (both sides chmod-ed or touched it), and the hub's wins: the first device to
    // reach it, the same on every device.
    return { type: 'pull-put', path, remote, local };
  }
  // Different bytes, but one side only touched the file (its bytes are base's, which the hub
  // keeps in its history): the other side's edit wins, with no conflicted copy.
  if (sameButMtime(base?.entry, local.entry)) return { type: 'pull-put', path, remote, local };
  if (sameButMtime(base?.entry, remote.entry))
    return { type: 'push-put', path, base: remote.seq, local };
  return { type: 'conflict', path, local, remote };
}

function bothFolders(a: Entry, b: Entry): boolean {
  return a.kind === 'dir' && b.kind === 'dir';
}

/**
 * Holds back the puts that replace a folder with a file or a link while a deletion below
 * that folder is held back. The hub replaces a folder only once it is empty, and the
 * executor commits a round's deletions before its puts; a put sent alone, while the
 * deletions of the folder's files wait (a deletion holds a moment before it is sent, see
 * DeletionHold, or waits for its retry), would be refused and look like a conflict of this
 * device with itself. Held here, the put goes in the round that sends those deletions, and
 * the type change reaches the hub as one change.
 *
 * `ready` are the changes about to be made, `planned` the whole plan they come from. Pure;
 * returns the changes to make now and the paths of the puts held back.
 */
export function holdTypeChanges(
  ready: readonly Change[],
  planned: readonly Change[],
): { ready: Change[]; held: string[] } {
  const going = new Set<string>();
  for (const change of ready) if (change.type === 'push-delete') going.add(change.path);
  // Every folder above a deletion that waits: a put at one of them must wait too.
  const waitingBelow = new Set<string>();
  for (const change of planned)
    if (change.type === 'push-delete' && !going.has(change.path))
      for (const ancestor of ancestorsOf(change.path)) waitingBelow.add(ancestor);
  if (waitingBelow.size === 0) return { ready: [...ready], held: [] };
  const kept: Change[] = [];
  const held: string[] = [];
  for (const change of ready) {
    if (
      change.type === 'push-put' &&
      change.local.entry.kind !== 'dir' &&
      waitingBelow.has(change.path)
    )
      held.push(change.path);
    else kept.push(change);
  }
  return { ready: kept, held };
}

interface MoveCandidate {
  readonly from: string;
  readonly to: string;
}

/**
 * Finds renames, hub side first. A rename is only taken when it is clean: the moved item is
 * unchanged on the other side and its destination is free there. Anything else falls back
 * to the per-path table as a delete plus a create, which loses nothing (at worst a copy).
 */
function planMoves(input: PlanInput): Change[] {
  const { base, local, remote } = input;
  const isExcluded = (path: string): boolean => excluded(input, path);
  // Where each node and inode is now; built only when some path lost its own (most rounds,
  // every base path is still where it was on both sides).
  let remoteByNode: Map<Seq, string> | undefined;
  let localByIno: Map<number, string | null> | undefined;
  const remotePathOf = (node: Seq) => {
    if (!remoteByNode) {
      remoteByNode = new Map();
      for (const [path, r] of remote) remoteByNode.set(r.node, path);
    }
    return remoteByNode.get(node);
  };
  const localPathOf = (ino: number) => {
    if (!localByIno) {
      localByIno = new Map();
      for (const [path, l] of local) localByIno.set(l.ino, localByIno.has(l.ino) ? null : path); // null: hard links
    }
    return localByIno.get(ino);
  };

  const remoteMoves: MoveCandidate[] = [];
  const localMoves: MoveCandidate[] = [];
  for (const [from, b] of base) {
    const remoteTo = remote.get(from)?.node === b.node ? from : remotePathOf(b.node);
    const here = local.get(from);
    const localTo = here && here.ino === b.ino ? from : localPathOf(b.ino);
    if ((remoteTo ?? from) === from && (localTo ?? from) === from) continue;
    if (isExcluded(from)) continue;
    if (remoteTo !== undefined && remoteTo !== from) remoteMoves.push({ from, to: remoteTo });
    if (localTo && localTo !== from) localMoves.push({ from, to: localTo });
  }

  const changes: Change[] = [];
  const taken: MoveCandidate[] = [];
  const overlaps = (m: MoveCandidate): boolean =>
    taken.some(
      (t) =>
        isSameOrInside(m.from, t.from) ||
        isSameOrInside(t.from, m.from) ||
        isSameOrInside(m.to, t.to) ||
        isSameOrInside(t.to, m.to) ||
        isSameOrInside(m.to, t.from) ||
        isSameOrInside(t.to, m.from),
    );

  for (const move of outermost(remoteMoves)) {
    const b = base.get(move.from)!;
    const l = local.get(move.from);
    const r = remote.get(move.to)!;
    // Clean when the disk still holds the same item at the source and nothing at the target.
    const clean =
      l !== undefined &&
      l.ino === b.ino &&
      l.entry.kind === b.entry.kind &&
      r.entry.kind === b.entry.kind &&
      !isExcluded(move.to) &&
      !local.has(move.to) &&
      !base.has(move.to) &&
      foldersOrNothing(local, move.to);
    if (!clean || overlaps(move)) continue;
    taken.push(move);
    changes.push({ type: 'pull-move', from: move.from, to: move.to, remote: r, local: l });
  }

  for (const move of outermost(localMoves)) {
    const b = base.get(move.from)!;
    const l = local.get(move.to)!;
    const r = remote.get(move.from);
    // Clean when the hub still holds base at the source and nothing at the target, and (for
    // files) the bytes did not change on the way: a changed file is sent as delete + create.
    // (A new mtime alone is sent after the move, as a change of the file at its new path.)
    const clean =
      r !== undefined &&
      r.seq === b.seq &&
      r.node === b.node &&
      l.entry.kind === b.entry.kind &&
      (b.entry.kind !== 'file' || sameButMtime(b.entry, l.entry)) &&
      !isExcluded(move.to) &&
      !remote.has(move.to) &&
      !base.has(move.to) &&
      !local.has(move.from) &&
      foldersOrNothing(remote, move.to);
    if (!clean || overlaps(move)) continue;
    taken.push(move);
    changes.push({ type: 'push-move', from: move.from, to: move.to, base: b.seq, local: l });
  }
  return changes;
}

/** True when every ancestor of `path` in `tree` is a folder or absent (a move can land there). */
function foldersOrNothing(tree: Tree<{ readonly entry: Entry }>, path: string): boolean {
  return ancestorsOf(path).every((ancestor) => {
    const node = tree.get(ancestor);
    return node === undefined || node.entry.kind === 'dir';
  });
}

/** Drops moves implied by a move of an ancestor (a folder rename moves its contents). */
function outermost(moves: MoveCandidate[]): MoveCandidate[] {
  const sorted = [...moves].sort(
    (a, b) => depthOf(a.from) - depthOf(b.from) || comparePaths(a.from, b.from),
  );
  const kept: MoveCandidate[] = [];
  for (const move of sorted) {
    const implied = kept.some(
      (k) => isSameOrInside(move.from, k.from) && rebase(move.from, k.from, k.to) === move.to,
    );
    const nested = kept.some((k) => isSameOrInside(move.from, k.from));
    if (implied || nested) continue; // a nested, non-implied move is found again next round
    kept.push(move);
  }
  return kept;
}

/** The entry a change leaves at its path on the hub side, for logs and `tandem explain`. */
export function describeEntry(entry: Entry | undefined): string {
  if (!entry) return 'absent';
  switch (entry.kind) {
    case 'file':
      return `file ${entry.contentId.slice(0, 12)} (${entry.size} bytes, mode ${formatMode(entry.mode)})`;
    case 'dir':
      return `folder (mode ${formatMode(entry.mode)})`;
    case 'symlink':
      return `symlink -> ${entry.target}`;
  }
}

/** A mode as `ls` and `chmod` users read it: three octal digits (0o640 is `640`). */
export function formatMode(mode: number): string {
  return mode.toString(8).padStart(3, '0');
}

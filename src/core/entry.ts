/**
 * What a path holds, independent of where the state comes from (base, local disk, hub).
 */
import type { ContentId, Seq } from './ids.js';

export const ENTRY_KINDS = ['file', 'dir', 'symlink'] as const;

/**
 * The modification times Tandem accepts, in milliseconds since the epoch: 1970 to 2200. A
 * time outside cannot be set on every filesystem (`futimes` refuses it, or stores something
 * else), so an agent asked to apply one would try again forever.
 */
export const MIN_MTIME_MS = 0;
export const MAX_MTIME_MS = Date.UTC(2200, 0, 1);
/** The largest file size and symlink target Tandem accepts. */
export const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER;
export const MAX_LINK_TARGET_BYTES = 4096;
export type EntryKind = (typeof ENTRY_KINDS)[number];

/**
 * The permission bits Tandem syncs: read, write and execute for user, group and other. The
 * setuid, setgid and sticky bits never travel (a synced file must not gain privileges).
 */
export const MODE_BITS = 0o777;
/**
 * The modes an entry of the release before modes (executable bit only, folders without a
 * mode) is taken to have: what that release wrote on every device.
 */
export const LEGACY_FILE_MODE = 0o644;
export const LEGACY_EXECUTABLE_MODE = 0o755;
export const LEGACY_DIR_MODE = 0o755;

/** True when a mode lets someone execute the file: what the `executable` flag says. */
export function isExecutableMode(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

export interface FileEntry {
  readonly kind: 'file';
  readonly contentId: ContentId;
  readonly size: number;
  /**
   * Derived from `mode` (`isExecutableMode`) and kept in step with it: agents of the release
   * before modes read only this flag, so the wire carries it.
   */
  readonly executable: boolean;
  /** Permission bits, `mode & MODE_BITS`, applied exactly on every device. */
  readonly mode: number;
  /** Modification time in whole milliseconds since the epoch. */
  readonly mtime: number;
}

export interface DirEntry {
  readonly kind: 'dir';
  /** Permission bits, `mode & MODE_BITS`, applied exactly on every device. */
  readonly mode: number;
}

export interface SymlinkEntry {
  readonly kind: 'symlink';
  /** The link's target, verbatim. It is data: Tandem never follows it. */
  readonly target: string;
}

export type Entry = FileEntry | DirEntry | SymlinkEntry;

/**
 * True when two entries hold the same thing: same kind, for files the same bytes, mode and
 * modification time, for folders the same mode, for links the same target. Touching a file
 * is a change (it is sent, and the other devices' copies get the new mtime), and so is a
 * chmod of a file or folder. `undefined` (absent) equals only `undefined`.
 */
export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  return sameButMtime(a, b) && (a?.kind !== 'file' || a.mtime === (b as FileEntry).mtime);
}

/**
 * `sameEntry` but for the modification time: for files, the same bytes and mode; for folders,
 * the same mode. Two files that differ only in their mtimes were only touched, one against
 * the other.
 */
export function sameButMtime(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'file':
      return a.contentId === (b as FileEntry).contentId && a.mode === (b as FileEntry).mode;
    case 'symlink':
      return a.target === (b as SymlinkEntry).target;
    case 'dir':
      return a.mode === (b as DirEntry).mode;
  }
}

/**
 * True when every field is equal (the size too, which `sameEntry` leaves to the content id):
 * one of the two may then stand for both, so that a tree holds one object, not two copies.
 */
export function identicalEntry(a: Entry, b: Entry): boolean {
  switch (a.kind) {
    case 'file':
      return (
        b.kind === 'file' &&
        a.contentId === b.contentId &&
        a.size === b.size &&
        a.mode === b.mode &&
        a.executable === b.executable &&
        a.mtime === b.mtime
      );
    case 'symlink':
      return b.kind === 'symlink' && a.target === b.target;
    case 'dir':
      return b.kind === 'dir' && a.mode === b.mode;
  }
}

/**
 * The entry with a mode: itself when it has one, else (an entry of the release before modes,
 * from its agents, hub rows or state database) the mode that release gave it on disk:
 * LEGACY_EXECUTABLE_MODE or LEGACY_FILE_MODE for a file, LEGACY_DIR_MODE for a folder.
 */
export function withMode(entry: Entry): Entry {
  if (entry.kind === 'symlink' || hasMode(entry)) return entry;
  if (entry.kind === 'dir') return { kind: 'dir', mode: LEGACY_DIR_MODE };
  return {
    ...entry,
    mode: entry.executable ? LEGACY_EXECUTABLE_MODE : LEGACY_FILE_MODE,
  };
}

/** True when an entry (from the wire, or a stored one) carries a mode. */
export function hasMode(entry: Entry): boolean {
  return typeof (entry as { mode?: unknown }).mode === 'number';
}

/**
 * The entry as the release before modes sends and reads it: no mode (a file keeps the
 * executable bit its mode gives). For devices that do not understand modes, whose checks
 * refuse an entry with a field they do not know.
 */
export function withoutMode(entry: Entry): Entry {
  if (entry.kind === 'symlink') return entry;
  if (entry.kind === 'dir') return { kind: 'dir' } as Entry;
  const { mode: _mode, ...rest } = entry;
  return rest as Entry;
}

/**
 * The mode the hub gives an entry sent without one (by a device of the release before
 * modes), so that an edit made there never widens what the path had: the path's `current`
 * mode when it is the same kind and its executable bit says the same; when only that bit
 * changed, the current mode with execute added where read is (or every execute bit taken
 * away); for a new path, the mode that release wrote (`withMode`).
 */
export function inheritMode(entry: Entry, current: Entry | undefined): Entry {
  if (entry.kind === 'symlink' || hasMode(entry)) return entry;
  if (entry.kind === 'dir')
    return current?.kind === 'dir' ? { kind: 'dir', mode: current.mode } : withMode(entry);
  if (current?.kind !== 'file') return withMode(entry);
  const was = current.mode;
  if (isExecutableMode(was) === entry.executable) return { ...entry, mode: was };
  return { ...entry, mode: entry.executable ? was | ((was & 0o444) >> 2) | 0o100 : was & ~0o111 };
}

/** Identical bytes (files with equal content ids); the mode may differ. */
export function sameBytes(a: Entry | undefined, b: Entry | undefined): boolean {
  return a?.kind === 'file' && b?.kind === 'file' && a.contentId === b.contentId;
}

/** An entry as the hub holds it: the entry plus the journal row that wrote it. */
export interface RemoteNode {
  readonly entry: Entry;
  /** The journal seq of the row that last wrote this path. */
  readonly seq: Seq;
  /** A stable identity: kept across moves, new after a delete and re-create. */
  readonly node: Seq;
}

/** An entry as the local disk holds it, with the inode that identifies it across renames. */
export interface LocalNode {
  readonly entry: Entry;
  readonly ino: number;
}

/** What both sides agreed on at the last sync of a path. */
export interface BaseNode {
  readonly entry: Entry;
  readonly seq: Seq;
  readonly node: Seq;
  /** The local inode at the time of agreement, for detecting local renames. */
  readonly ino: number;
}

export type Tree<T> = ReadonlyMap<string, T>;

/**
 * The local tree as a hub of the release before modes can hold it: every file and folder
 * with the mode that release wrote (0o644, 0o755 if executable; folders 0o755). Against such
 * a hub modes cannot travel, and a local mode compared with the one the hub is taken to hold
 * would be a change sent every round; so the device behaves as that release did, until the
 * hub says it stores modes.
 */
export function legacyModes(local: Tree<LocalNode>): Tree<LocalNode> {
  const out = new Map<string, LocalNode>();
  for (const [path, node] of local)
    out.set(
      path,
      node.entry.kind === 'symlink' ? node : { ...node, entry: withMode(withoutMode(node.entry)) },
    );
  return out;
}

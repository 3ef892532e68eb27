/**
 * How names on a device's disk map to workspace paths, and back. Pure.
 *
 * The hub holds every path in Unicode normal form C. A disk may spell a name otherwise: macOS
 * writes `é` as `e` + U+0301 (NFD). Such a name is synced under its NFC form, and the device
 * keeps its own spelling: `Spellings` remembers, per workspace path, the name its last
 * segment has on disk where that differs, so that what the hub sends for it is written to
 * the file that is there, not to a second one.
 *
 * A disk that looks names up without regard to case (macOS's and Windows' default) cannot
 * hold two workspace paths that differ only in case: `caseCollisions` picks the one a device
 * keeps (see there).
 */
import { ancestorsOf, baseName, comparePaths, isSameOrInside, rebase } from './paths.js';

const ASCII = /^[\x20-\x7e]*$/;

/** The workspace form of a name found on disk (NFC; an ASCII name is its own). */
export function wireName(name: string): string {
  return ASCII.test(name) ? name : name.normalize('NFC');
}

/**
 * Of several names in one folder that are one workspace path (they differ only in their
 * Unicode form), the one that keeps the path: the one spelled exactly as the path, else the
 * one that had it before (`previous`), else the first in byte order. The others are moved
 * aside as conflicted copies, so nothing is lost.
 */
export function keptSpelling(
  wire: string,
  names: readonly string[],
  previous: string | undefined,
): string {
  if (names.includes(wire)) return wire;
  if (previous !== undefined && names.includes(previous)) return previous;
  return [...names].sort(comparePaths)[0]!;
}

/**
 * The disk spellings of the paths whose last segment is not spelled on disk as in the
 * workspace. Empty on nearly every device, so mapping a path costs nothing there.
 * Not safe for concurrent mutation (one engine owns it).
 */
export class Spellings {
  /** Workspace path -> the disk name of its last segment. */
  private readonly names = new Map<string, string>();

  constructor(from?: Spellings) {
    if (from) for (const [path, name] of from.names) this.names.set(path, name);
  }

  get size(): number {
    return this.names.size;
  }

  /** Records that `path`'s last segment is spelled `diskName` on disk (or as in `path`). */
  set(path: string, diskName: string): void {
    if (diskName === baseName(path)) this.names.delete(path);
    else this.names.set(path, diskName);
  }

  /** The disk name of `path`'s last segment, when it differs from the workspace's. */
  get(path: string): string | undefined {
    return this.names.get(path);
  }

  /** The path on disk (relative, `/`-separated) of a workspace path. */
  toDisk(path: string): string {
    if (this.names.size === 0) return path;
    let out = '';
    for (const prefix of [...ancestorsOf(path), path]) {
      const name = this.names.get(prefix) ?? baseName(prefix);
      out = out === '' ? name : `${out}/${name}`;
    }
    return out;
  }

  /** Forgets `root` and everything below it. */
  cut(root: string): void {
    if (this.names.size === 0) return;
    for (const path of [...this.names.keys()])
      if (isSameOrInside(path, root)) this.names.delete(path);
  }

  /**
   * `from` was renamed to `to` (a workspace name, written as such): what was below it keeps
   * its spelling, the moved name itself is now spelled as `to`.
   */
  move(from: string, to: string): void {
    if (this.names.size === 0) return;
    const moved: [string, string][] = [];
    for (const [path, name] of this.names)
      if (isSameOrInside(path, from) && path !== from) moved.push([rebase(path, from, to), name]);
    this.cut(from);
    this.cut(to);
    for (const [path, name] of moved) this.names.set(path, name);
  }

  entries(): IterableIterator<[string, string]> {
    return this.names.entries();
  }
}

/** The key under which a case-insensitive disk looks a path up. */
export function caseKey(path: string): string {
  return path.toLowerCase();
}

/**
 * The workspace paths a case-insensitive disk cannot hold, each with the path that takes its
 * place there. Of paths that differ only in case (a folder's included, with all it holds),
 * the device keeps the one it already synced (`kept`), else the one on its disk, else the
 * first in byte order, so the choice does not change from round to round; the others are
 * left alone here (never downloaded, never deleted from the hub) and reported.
 */
export function caseCollisions(
  remote: Iterable<string>,
  kept: (path: string) => boolean,
  onDisk: (path: string) => boolean,
): Map<string, string> {
  const groups = new Map<string, string[]>();
  for (const path of remote) {
    const key = caseKey(path);
    const group = groups.get(key);
    if (group) group.push(path);
    else groups.set(key, [path]);
  }
  const losers = new Map<string, string>();
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.sort(comparePaths);
    const winner = group.find(kept) ?? group.find(onDisk) ?? group[0]!;
    for (const path of group) if (path !== winner) losers.set(path, winner);
  }
  // A path below a folder left alone is left alone with it (its own pair needs no entry).
  if (losers.size > 0)
    for (const path of [...losers.keys()])
      if (ancestorsOf(path).some((a) => losers.has(a))) losers.delete(path);
  return losers;
}

/** True when `path` or a folder above it is in `losers`. */
export function isCaseHeld(losers: ReadonlyMap<string, string>, path: string): boolean {
  if (losers.size === 0) return false;
  if (losers.has(path)) return true;
  return ancestorsOf(path).some((a) => losers.has(a));
}

/**
 * A name's bytes that are not valid UTF-8, shown readably: valid characters as they are, each
 * byte that is not part of one as `\xNN`.
 */
export function showUndecodable(bytes: Uint8Array): string {
  let out = '';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < bytes.length;) {
    const length = sequenceLength(bytes, i);
    if (length === 0) {
      out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
      i++;
    } else {
      out += decoder.decode(bytes.subarray(i, i + length));
      i += length;
    }
  }
  return out;
}

/** The length of the valid UTF-8 sequence starting at `i`, or 0 when there is none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf; // (no surrogates)
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

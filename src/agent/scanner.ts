/**
 * The scanner: reads the local tree from disk. Only lstat is used (links are never
 * followed); a file is hashed only when its inode, size, mtime or ctime differ from the hash
 * cache. The ctime is what makes that safe: `cp -p`, `touch -r`, `tar -x` and backups put a
 * rewritten file's mtime back, and its size may be the same, but no user can put back the
 * ctime the kernel gave its rewrite.
 * A file that changes while being hashed is reported as unstable (still being written) and
 * left out of this round. Per-path failures are problems, never an abort of the scan.
 *
 * Names: each name on disk is taken under its workspace form (NFC, see core/local-names.ts);
 * where the disk spells it otherwise the result's `spellings` say how, so what is written
 * there goes to that file. Two names of one folder that are one workspace path are a
 * collision: one keeps the path, the others are listed in `collisions` (to be moved aside as
 * conflicted copies). A name that is not valid UTF-8 is a problem, and is never opened.
 */
import { isExecutableMode, MODE_BITS, type Entry, type LocalNode } from '../core/entry.js';
import type { ContentId } from '../core/ids.js';
import { forEachLimited } from '../core/concurrency.js';
import { IGNORE_FILE, STATE_DIR, type IgnoreMatcher } from '../core/ignore.js';
import { keptSpelling, showUndecodable, Spellings, wireName } from '../core/local-names.js';
import {
  ancestorsOf,
  baseName,
  checkPath,
  comparePaths,
  joinPath,
  parentOf,
} from '../core/paths.js';
import {
  errorCode,
  readWholeFile,
  type FileSystem,
  type SpecialKind,
  type FolderNames,
  type Stat,
} from '../fs/file-system.js';
import { hashAndKeep, type OnChunk } from './hasher.js';
import type { HashRecord } from './state-store.js';

export interface Problem {
  readonly path: string;
  readonly message: string;
  /** Try the path again within this long, whatever its backoff (trouble no event ends). */
  readonly retryWithinMs?: number;
}

/** Names of one folder that are one workspace path: those that did not keep it. */
export interface Collision {
  /** The workspace path both names are. */
  readonly path: string;
  /** Where the name that did not keep it is, on disk (relative to the root). */
  readonly disk: string;
}

export interface ScanResult {
  readonly local: Map<string, LocalNode>;
  /** How the disk spells the paths of `local` that it does not spell as the workspace does. */
  readonly spellings: Spellings;
  /** Names that are the path of another name in their folder (see Collision). */
  readonly collisions: Collision[];
  /** Paths whose state is unknown this round: still being written, unreadable, special files. */
  readonly skip: Set<string>;
  /**
   * Paths that hold a pipe, socket or device (also in `skip`, and each a problem): never
   * opened, never synced, and what the hub has there cannot be written until it is moved.
   */
  readonly special: Map<string, SpecialKind | undefined>;
  /** Files that changed while being read, or too recently; worth scanning again shortly. */
  readonly unstable: Set<string>;
  /** When the soonest unstable file will have been quiet long enough (ms from now). */
  settlesInMs: number | undefined;
  readonly problems: Problem[];
}

export interface ScanOptions {
  readonly fs: FileSystem;
  /** The synced folder, absolute. */
  readonly root: string;
  readonly isIgnored: IgnoreMatcher;
  readonly hashes: ReadonlyMap<string, HashRecord>;
  /** Records a fresh hash (or forgets one). */
  readonly setHash: (path: string, record: HashRecord | undefined) => void;
  readonly now: () => number;
  /**
   * Receives the bytes of small files as they were hashed (stable: same stat before and
   * after the read), so an upload this round needs no second read.
   */
  readonly keepContent?: (path: string, contentId: ContentId, bytes: Uint8Array) => void;
  /**
   * Entries already held (the base tree): a file found exactly as one of these describes is
   * given that entry object, so an unchanged tree is not held in memory twice.
   */
  readonly known?: ReadonlyMap<string, { readonly entry: Entry }>;
  /** The last scan's spellings: of colliding names, the one that kept a path keeps it. */
  readonly spellings?: Spellings;
  /**
   * Where the chunks of a file of `size` bytes go as it is hashed (large files are sent to
   * the hub while being read), or undefined. `changed` says whether the file has changed
   * since hashing began (then what was read is not worth sending).
   */
  readonly chunkSink?: (
    path: string,
    size: number,
    changed: () => Promise<boolean>,
  ) => ChunkSink | undefined;
}

export interface ChunkSink {
  readonly onChunk: OnChunk;
  /** The file is hashed (or hashing failed). */
  end(): Promise<void>;
}

/**
 * A hash is trusted only if the file's last change (its ctime) is older than this when it was
 * hashed: a change within the same tick of a coarse clock (a jiffy, up to 10 ms) would leave
 * the ctime as it was. Hashing waits for QUIET_MS, which is longer.
 */
const RACY_WINDOW_MS = 20;
/**
 * The same for a filesystem whose times are whole seconds (ext4 with small inodes, ext3,
 * FAT's 2 s): a change in the same second or two keeps the same ctime.
 */
const RACY_WINDOW_WHOLE_SECONDS_MS = 2000;
/**
 * A file modified less than this long ago is taken as still being written: it is neither
 * hashed nor uploaded this round, and the round is retried shortly.
 */
export const QUIET_MS = 25;
const PARALLEL_HASHES = 4;
const PARALLEL_STATS = 64;

/**
 * The cached hash of a file, if its inode, size, mtime and ctime still match: by path, or
 * else by inode (the file was moved with its folder, which must not cost a re-hash; a file
 * renamed itself has a new ctime on Linux, and is hashed again).
 *
 * A path the watcher reported, on a filesystem that keeps no ctime (0), is always hashed
 * again: an event is never dismissed on inode, size and mtime alone.
 */
function cachedHash(
  options: ScanOptions,
  walkState: WalkState,
  path: string,
  stat: Stat,
): HashRecord | undefined {
  if (walkState.hinted && stat.ctimeNs === 0n) return undefined;
  const matches = (record: HashRecord | undefined): record is HashRecord =>
    record !== undefined && hashStillValid(record, stat);
  const byPath = options.hashes.get(path);
  if (matches(byPath)) return byPath;
  // Built on the first miss of a scan (the cache does not change while a scan walks).
  if (!walkState.byIno) {
    walkState.byIno = new Map();
    for (const record of options.hashes.values()) walkState.byIno.set(record.ino, record);
  }
  const moved = walkState.byIno.get(stat.ino);
  return matches(moved) ? moved : undefined;
}

/**
 * True when a hash record still describes the file `stat` describes: same inode, size, mtime
 * and ctime, and the hash was taken long enough after the last change to be trusted (see
 * `trustedSince`).
 */
export function hashStillValid(record: HashRecord, stat: Stat): boolean {
  return (
    stat.kind === 'file' &&
    record.ino === stat.ino &&
    record.size === stat.size &&
    record.ctimeNs === stat.ctimeNs &&
    record.mtimeNs === stat.mtimeNs &&
    record.hashedAt > trustedSince(record)
  );
}

/**
 * The time (ms) after which a hash of a file changed at `record`'s times can be trusted: its
 * ctime (or, where the filesystem keeps none, its mtime) plus the racy window.
 */
export function trustedSince(record: Pick<HashRecord, 'mtimeNs' | 'ctimeNs'>): number {
  const changed = record.ctimeNs > 0n ? record.ctimeNs : record.mtimeNs;
  const window = changed % 1_000_000_000n === 0n ? RACY_WINDOW_WHOLE_SECONDS_MS : RACY_WINDOW_MS;
  return Number(changed) / 1e6 + window;
}

const ASCII_NAME = /^[\x20-\x7e]*$/;

/** A path to look at: its workspace form, and where it is on disk (relative to the root). */
interface Item {
  readonly path: string;
  readonly disk: string;
}

interface ToHash {
  readonly item: Item;
  readonly stat: Stat;
}

interface WalkState {
  byIno: Map<number, HashRecord> | undefined;
  /** True while walking paths the watcher reported (see `cachedHash`). */
  hinted?: boolean;
  /** When set, each path recorded in the scan's result with its inode (files to hash aside). */
  recorded?: [path: string, ino: number][];
}

export function absolute(root: string, path: string): string {
  return path === '' ? root : `${root}/${path}`;
}

/** Scans the whole tree under `root`. */
/**
 * Scans only `hints` (paths that may have changed, and everything below them), taking the
 * rest from `previous`. The watcher's events are the hints; a periodic full scan catches
 * anything they missed. Files that were unstable in `previous` are scanned again too.
 */
export async function rescanPaths(
  options: ScanOptions,
  previous: ScanResult,
  hints: ReadonlySet<string>,
): Promise<ScanResult> {
  // Hints are disk paths (the watcher's) or workspace paths (the executor's): each is taken
  // under its workspace form, with the disk's spelling of its name kept as a candidate.
  const spelledAs = new Map<string, Set<string>>();
  const workspaceHints: string[] = [];
  for (const hint of [...hints, ...previous.unstable]) {
    const path = hintPath(hint);
    if (path === undefined) continue;
    if (path === '') return scanTree(options); // (a name at the top that cannot be read)
    workspaceHints.push(path);
    if (path === hint) continue;
    const names = spelledAs.get(path) ?? new Set();
    names.add(baseName(hint));
    spelledAs.set(path, names);
  }
  // A hint below a folder the last scan did not know (its event came first, or was lost) is
  // widened to that folder, so the whole new subtree is walked rather than the hint dropped.
  const known = (path: string) => previous.local.get(path)?.entry.kind === 'dir';
  const widened = workspaceHints.map(
    (hint) => ancestorsOf(hint).find((ancestor) => !known(ancestor)) ?? hint,
  );
  const roots = new Set<string>();
  for (const hint of widened.sort(comparePaths)) {
    if (!ancestorsOf(hint).some((a) => roots.has(a))) roots.add(hint);
  }
  const hinted = (path: string) => roots.has(path) || ancestorsOf(path).some((a) => roots.has(a));
  // Copy the last scan and cut the hinted subtrees out of it. This runs on every round, so it
  // must not allocate per path: only folders that were hinted need a pass over the keys.
  const local = new Map(previous.local);
  const spellings = new Spellings(previous.spellings);
  for (const root of roots) {
    cutSubtree(local, root);
    spellings.cut(root);
  }
  const result: ScanResult = {
    local,
    spellings,
    collisions: [],
    skip: new Set(),
    special: new Map(),
    unstable: new Set(),
    problems: previous.problems.filter((p) => !hinted(p.path)),
    settlesInMs: undefined,
  };
  for (const path of previous.skip) if (!hinted(path)) result.skip.add(path);
  for (const [path, kind] of previous.special) if (!hinted(path)) result.special.set(path, kind);
  const toHash: ToHash[] = [];
  // Below a folder that is not there any more (or not a folder), there is nothing to see.
  const underFolders = (path: string) =>
    ancestorsOf(path).every((a) => result.local.get(a)?.entry.kind === 'dir');
  const valid = [...roots].filter(underFolders);
  const recorded: [string, number][] = [];
  const state: WalkState = { byIno: undefined, recorded, hinted: true };
  const resolve = (paths: readonly string[]) =>
    resolveItems(options, previous.spellings, paths, spelledAs, result);
  await visit(options, await resolve(valid), result, toHash, state);
  // A rename seen by half: its new name was hinted (or lies in a new folder that was walked)
  // while the event for its old name is still on its way. Left as the last scan saw it, the
  // old name would make the move look like a copy, sent as new files. A node found here with
  // the inode of a path the last scan had elsewhere makes that path be looked at now too.
  const others = otherHalves(previous, result, recorded).filter((path) => !hinted(path));
  if (others.length > 0) {
    for (const path of others) {
      cutSubtree(result.local, path);
      result.spellings.cut(path);
    }
    const items = await resolve(others.filter(underFolders));
    await visit(options, items, result, toHash, { byIno: state.byIno, hinted: true });
  }
  await forEachLimited(toHash, PARALLEL_HASHES, async ({ item, stat }) => {
    await hashInto(options, item, stat, result);
  });
  return result;
}

/**
 * The workspace path a hint stands for: its NFC form; for a name that cannot be synced (not
 * valid UTF-8, a control character), the closest folder above it that can, which a rescan
 * walks to report it; undefined for a hint inside an agent's state, never scanned.
 */
function hintPath(hint: string): string | undefined {
  const segments = hint.split('/');
  if (segments.some((segment) => segment.toLowerCase() === STATE_DIR)) return undefined;
  for (let n = segments.length; n > 0; n--) {
    const candidate = segments.slice(0, n).join('/');
    if (candidate.includes('\uFFFD')) continue;
    const check = checkPath(candidate);
    if (check.ok) return check.path;
  }
  return '';
}

/**
 * Where on disk each workspace path of a rescan is. Its folders are spelled as the last scan
 * saw them; its own name is looked up as it is spelled when it needs no normalizing and had
 * no other spelling, and otherwise among the names of its folder that are that path (which
 * may be several: a collision, as a walk finds it).
 */
async function resolveItems(
  options: ScanOptions,
  previous: Spellings,
  paths: readonly string[],
  spelledAs: ReadonlyMap<string, ReadonlySet<string>>,
  result: ScanResult,
): Promise<Item[]> {
  const items: Item[] = [];
  const listings = new Map<string, FolderNames | undefined>();
  for (const path of paths) {
    const name = baseName(path);
    const diskParent = previous.toDisk(parentOf(path));
    const plain =
      ASCII_NAME.test(name) &&
      previous.get(path) === undefined &&
      [...(spelledAs.get(path) ?? [])].every((spelling) => spelling === name);
    if (plain) {
      items.push({ path, disk: joinPath(diskParent, name) });
      continue;
    }
    if (!listings.has(diskParent)) {
      listings.set(
        diskParent,
        await options.fs.readNames(absolute(options.root, diskParent)).catch(() => undefined),
      );
    }
    const names = listings.get(diskParent)?.names.filter((n) => wireName(n) === name) ?? [];
    if (names.length === 0) continue; // nothing there now
    items.push(chooseSpelling(path, diskParent, names, previous.get(path), result));
  }
  return items;
}

/** Of the names that are `path` in one folder, the one kept; the others are collisions. */
function chooseSpelling(
  path: string,
  diskParent: string,
  names: readonly string[],
  previous: string | undefined,
  result: ScanResult,
): Item {
  const wire = baseName(path);
  const kept = names.length === 1 ? names[0]! : keptSpelling(wire, names, previous);
  for (const name of names)
    if (name !== kept) result.collisions.push({ path, disk: joinPath(diskParent, name) });
  result.spellings.set(path, kept);
  return { path, disk: joinPath(diskParent, kept) };
}

/** Removes `root` from `local`, and everything below it if it was a folder. */
function cutSubtree(local: Map<string, LocalNode>, root: string): void {
  const wasDir = local.get(root)?.entry.kind === 'dir';
  local.delete(root);
  if (!wasDir) return;
  const prefix = `${root}/`;
  for (const path of local.keys()) if (path.startsWith(prefix)) local.delete(path);
}

/**
 * The paths of the last scan whose inode a rescan `recorded` at another path (the top of each
 * such subtree only). The index of the last scan by inode is built only when a recorded path
 * holds a node it did not hold before.
 */
function otherHalves(
  previous: ScanResult,
  result: ScanResult,
  recorded: readonly (readonly [path: string, ino: number])[],
): string[] {
  const fresh = recorded.filter(([path, ino]) => previous.local.get(path)?.ino !== ino);
  if (fresh.length === 0) return [];
  const byIno = new Map<number, string>();
  for (const [path, node] of previous.local) byIno.set(node.ino, path);
  const found = new Set<string>();
  for (const [path, ino] of fresh) {
    const old = byIno.get(ino);
    if (old !== undefined && old !== path && result.local.get(old)?.ino === ino) found.add(old);
  }
  // (A folder's files moved with it: its own path is enough.)
  return [...found].filter((path) => !ancestorsOf(path).some((a) => found.has(a)));
}

export async function scanTree(options: ScanOptions): Promise<ScanResult> {
  const result: ScanResult = {
    local: new Map(),
    spellings: new Spellings(),
    collisions: [],
    skip: new Set(),
    special: new Map(),
    unstable: new Set(),
    problems: [],
    settlesInMs: undefined,
  };
  const toHash: ToHash[] = [];
  await walk(options, { path: '', disk: '' }, result, toHash, { byIno: undefined });
  await forEachLimited(toHash, PARALLEL_HASHES, async ({ item, stat }) => {
    await hashInto(options, item, stat, result);
  });
  // Forget hashes of paths that are gone, so the cache does not grow without bound.
  for (const path of options.hashes.keys()) {
    if (!result.local.has(path) && !result.skip.has(path)) options.setHash(path, undefined);
  }
  return result;
}

async function walk(
  options: ScanOptions,
  dir: Item,
  result: ScanResult,
  toHash: ToHash[],
  state: WalkState,
) {
  let listing: FolderNames;
  try {
    listing = await options.fs.readNames(absolute(options.root, dir.disk));
  } catch (error) {
    if (dir.path !== '') {
      result.skip.add(dir.path);
      result.problems.push({
        path: dir.path,
        message: `cannot read folder: ${errorCode(error) ?? String(error)}`,
      });
      return;
    }
    throw error;
  }
  for (const bytes of listing.undecodable) {
    result.problems.push({
      path: joinPath(dir.path, showUndecodable(bytes)),
      message:
        'the name is not valid UTF-8 (shown with \\x for each byte that is not), so it cannot be synced: rename it',
    });
  }
  // Names by the workspace path they are. Distinct ASCII names are distinct paths, so a
  // folder of ASCII names (nearly every one) is taken as it is; only one with a name that
  // needs normalizing is grouped, to find names that are one path.
  const byPath = new Map<string, string[]>();
  const plain = listing.names.every((name) => ASCII_NAME.test(name));
  for (const name of listing.names) {
    // Another agent's state (a folder linked inside this one is refused, but one can be moved
    // or copied in): never synced, at any depth.
    if (name === STATE_DIR) continue;
    const path = joinPath(dir.path, plain ? name : wireName(name));
    const names = plain ? undefined : byPath.get(path);
    if (names) names.push(name);
    else byPath.set(path, [name]);
  }
  const items: Item[] = [];
  for (const [path, names] of byPath) {
    const check = checkPath(path);
    if (!check.ok) {
      result.skip.add(path);
      result.problems.push({ path, message: `name cannot be synced: ${check.reason}` });
      continue;
    }
    items.push(
      plain
        ? { path, disk: joinPath(dir.disk, names[0]!) }
        : chooseSpelling(path, dir.disk, names, options.spellings?.get(path), result),
    );
  }
  await visit(options, items, result, toHash, state);
}

/** Stats `items` (in parallel), records what they hold, and walks into folders. */
async function visit(
  options: ScanOptions,
  items: readonly Item[],
  result: ScanResult,
  toHash: ToHash[],
  state: WalkState,
): Promise<void> {
  // Stat a folder's entries in parallel: one at a time, a large tree scans many times slower.
  const stats: (Stat | undefined | Error)[] = [];
  for (let i = 0; i < items.length; i += PARALLEL_STATS) {
    const slice = items.slice(i, i + PARALLEL_STATS);
    stats.push(
      ...(await Promise.all(
        slice.map((item) =>
          options.fs.lstat(absolute(options.root, item.disk)).catch((error: Error) => error),
        ),
      )),
    );
  }
  const record = (path: string, node: LocalNode) => {
    result.local.set(path, node);
    state.recorded?.push([path, node.ino]);
  };
  const subdirs: Item[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const path = item.path;
    const stat = stats[i];
    if (stat instanceof Error) {
      result.skip.add(path);
      result.problems.push({ path, message: `cannot read: ${errorCode(stat) ?? stat.message}` });
      continue;
    }
    if (!stat) {
      result.spellings.cut(path);
      continue; // vanished since readdir
    }
    if (options.isIgnored(path, stat.kind === 'dir')) continue;
    switch (stat.kind) {
      case 'dir':
        record(path, dirNode(stat, options.known?.get(path)?.entry));
        subdirs.push(item);
        break;
      case 'symlink':
        try {
          const target = await options.fs.readlink(absolute(options.root, item.disk));
          record(path, { entry: { kind: 'symlink', target }, ino: stat.ino });
        } catch (error) {
          result.skip.add(path);
          if (errorCode(error) !== 'ENOENT')
            result.problems.push({ path, message: `cannot read link: ${errorCode(error)}` });
        }
        break;
      case 'file': {
        const cached = cachedHash(options, state, path, stat);
        if (cached) {
          if (options.hashes.get(path) !== cached) options.setHash(path, cached); // renamed here
          record(path, fileNode(stat, cached, options.known?.get(path)?.entry));
        } else {
          toHash.push({ item, stat });
        }
        break;
      }
      default:
        // Pipes, sockets, devices: never synced and never opened (only this lstat looked). A
        // hash once taken at this path is forgotten, so that nothing reads it for chunks.
        result.skip.add(path);
        result.special.set(path, stat.special);
        result.problems.push({ path, message: `${describeSpecial(stat.special)} is not synced` });
        if (options.hashes.has(path)) options.setHash(path, undefined);
    }
  }
  for (const subdir of subdirs) await walk(options, subdir, result, toHash, state);
}

async function hashInto(
  options: ScanOptions,
  item: Item,
  before: Stat,
  result: ScanResult,
): Promise<void> {
  const { path } = item;
  const full = absolute(options.root, item.disk);
  const now = options.now();
  // Written (mtime) or changed in any way (ctime: a file whose mtime was just put back) a
  // moment ago. (A future mtime says nothing about writing: clocks differ, or the file was
  // touched.)
  const wait = Math.max(
    quietFor(now - before.mtimeMs),
    quietFor(now - Number(before.ctimeNs) / 1e6),
  );
  if (wait > 0) {
    result.skip.add(path);
    result.unstable.add(path);
    result.settlesInMs = Math.min(result.settlesInMs ?? QUIET_MS, Math.ceil(wait) + 1);
    return;
  }
  try {
    const hashedAt = options.now();
    const sink = options.chunkSink?.(path, before.size, async () => {
      const now = await options.fs.lstat(full);
      return !now || !sameFileStat(before, now);
    });
    let hashed;
    try {
      hashed = await hashAndKeep(options.fs, full, undefined, before.size, sink?.onChunk);
    } finally {
      await sink?.end();
    }
    const { manifest, bytes } = hashed;
    const after = await options.fs.lstat(full);
    if (!after || !sameFileStat(before, after)) {
      // Written to while we read it: not stable, so not uploaded this round.
      result.skip.add(path);
      result.unstable.add(path);
      return;
    }
    const record: HashRecord = {
      ino: before.ino,
      size: before.size,
      mtimeNs: before.mtimeNs,
      ctimeNs: before.ctimeNs,
      contentId: manifest.contentId,
      chunks: manifest.chunks,
      hashedAt,
    };
    options.setHash(path, record);
    result.local.set(path, fileNode(before, record));
    if (bytes) options.keepContent?.(path, manifest.contentId, bytes);
  } catch (error) {
    result.skip.add(path);
    const code = errorCode(error);
    if (code === 'ENOENT') return; // deleted while we looked: the next scan sees it gone
    result.problems.push({ path, message: `cannot read file: ${code ?? String(error)}` });
  }
}

/** A folder as found, given the known entry when that says the same (no object of its own). */
function dirNode(stat: Stat, known?: Entry): LocalNode {
  const mode = stat.mode & MODE_BITS;
  return {
    entry: known?.kind === 'dir' && known.mode === mode ? known : { kind: 'dir', mode },
    ino: stat.ino,
  };
}

function fileNode(stat: Stat, record: HashRecord, known?: Entry): LocalNode {
  const mode = stat.mode & MODE_BITS;
  // `identicalEntry`, field by field, so that an unchanged file (nearly every file of a full
  // scan) costs no entry object of its own: with one built per file to compare, an agent
  // restarted on 100,000 files rested at 205-206 MB instead of 202-203.
  const same =
    known?.kind === 'file' &&
    known.contentId === record.contentId &&
    known.size === stat.size &&
    known.mode === mode &&
    known.mtime === stat.mtimeMs;
  return {
    entry: same
      ? known
      : {
          kind: 'file',
          contentId: record.contentId,
          size: stat.size,
          executable: isExecutableMode(mode),
          mode,
          mtime: stat.mtimeMs,
        },
    ino: stat.ino,
  };
}

/** A special file in words, as a person would name it. */
export function describeSpecial(kind: SpecialKind | undefined): string {
  switch (kind) {
    case 'fifo':
      return 'a named pipe (FIFO)';
    case 'socket':
      return 'a socket';
    case 'char-device':
      return 'a character device';
    case 'block-device':
      return 'a block device';
    case undefined:
      return 'a special file (neither file, folder nor link)';
  }
}

/** How much longer a file last written or changed `ageMs` ago must stay quiet (0: none). */
function quietFor(ageMs: number): number {
  return ageMs >= 0 && ageMs < QUIET_MS ? QUIET_MS - ageMs : 0;
}

/** Same file, same bytes as far as stat can tell (the ctime says it was not even touched). */
export function sameFileStat(a: Stat, b: Stat): boolean {
  return (
    a.kind === b.kind &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

/** The text of `.tandemignore`, or '' when there is none. */
export async function readIgnoreFile(fs: FileSystem, root: string): Promise<string> {
  try {
    return (await readWholeFile(fs, absolute(root, IGNORE_FILE))).toString('utf8');
  } catch {
    return '';
  }
}

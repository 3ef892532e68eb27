/**
 * A synced folder's own state: `DIR/.tandem/` with `state.db`, a copy of its link to the hub
 * in `link.json` (so a damaged database can be rebuilt), and a lock file that keeps two
 * agents off one folder.
 */
import { lstat, mkdir, open, opendir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { STATE_DIR } from '../core/ignore.js';
import { isDamageError, StateStore, type LinkInfo } from './state-store.js';

export function stateDirOf(root: string): string {
  return join(root, STATE_DIR);
}

export function stateFileOf(root: string): string {
  return join(stateDirOf(root), 'state.db');
}

function linkFileOf(root: string): string {
  return join(stateDirOf(root), 'link.json');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when DIR has been linked: it holds `.tandem/state.db`, or `.tandem/link.json` (whose
 * database was moved aside as damaged, or deleted: the next sync rebuilds it).
 */
export async function isLinked(root: string): Promise<boolean> {
  return (await exists(stateFileOf(root))) || (await exists(linkFileOf(root)));
}

/**
 * The state database cannot be used: SQLite finds it damaged (`reason` is what it says), or
 * it is missing. Nothing has been changed on disk; see `rebuildFolderState`.
 */
export class StateDamaged extends Error {
  override readonly name = 'StateDamaged';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly missing: boolean,
  ) {
    super(missing ? `${file} is missing` : `${file} is damaged (${reason})`);
  }
}

/**
 * Opens the state of a folder, creating `.tandem` and the database when `create`. Without
 * `create`, throws StateDamaged when the database is missing, or when SQLite finds it
 * damaged on opening or in its `quick_check` (about 60 ms with 50,000 files), and leaves it
 * as it is. Throws StateVersionError for a database of a newer Tandem.
 */
export async function openFolderState(root: string, create: boolean): Promise<StateStore> {
  const file = stateFileOf(root);
  if (create) await mkdir(stateDirOf(root), { recursive: true });
  else if (!(await exists(file))) throw new StateDamaged(file, 'missing', true);
  let store: StateStore | undefined;
  try {
    store = new StateStore(file);
    const finding = store.check();
    if (finding !== undefined) throw new StateDamaged(file, finding, false);
    return store;
  } catch (error) {
    store?.close();
    if (isDamageError(error)) throw new StateDamaged(file, (error as Error).message, false);
    throw error;
  }
}

/**
 * The link kept in `.tandem/link.json`, or undefined when there is none (or it cannot be
 * read as one: it is then of no use either).
 */
export async function readLinkFile(root: string): Promise<LinkInfo | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(linkFileOf(root), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { hub, workspaceId, workspaceName, deviceId } = value as Record<string, unknown>;
  if (
    typeof hub !== 'string' ||
    typeof workspaceId !== 'string' ||
    typeof workspaceName !== 'string' ||
    typeof deviceId !== 'string'
  )
    return undefined;
  return { hub, workspaceId, workspaceName, deviceId };
}

/**
 * Writes the link to `.tandem/link.json` (mode 0600) atomically and durably: a temporary
 * file, fsynced, renamed over it, and the folder fsynced. It holds no secret (the device
 * token stays in the user's config). Unchanged when it already says the same.
 */
export async function writeLinkFile(root: string, link: LinkInfo): Promise<void> {
  const current = await readLinkFile(root);
  if (
    current?.hub === link.hub &&
    current.workspaceId === link.workspaceId &&
    current.workspaceName === link.workspaceName &&
    current.deviceId === link.deviceId
  )
    return;
  const target = linkFileOf(root);
  const temp = `${target}.${process.pid}.tmp`;
  const { hub, workspaceId, workspaceName, deviceId } = link;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(
      `${JSON.stringify({ hub, workspaceId, workspaceName, deviceId }, null, 2)}\n`,
    );
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, target);
  await syncFolder(stateDirOf(root));
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves a damaged `state.db` aside, with its `-wal` and `-shm`, to
 * `state.db.damaged-<UTC time>` (plus `-wal`, `-shm`), and returns that path, or undefined
 * when there was no database to move. The caller holds the folder's lock and has closed the
 * database.
 */
export async function moveDamagedState(
  root: string,
  now = new Date(),
): Promise<string | undefined> {
  const file = stateFileOf(root);
  if (!(await exists(file))) return undefined;
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  let aside = `${file}.damaged-${stamp}`;
  for (let n = 1; await exists(aside); n++) aside = `${file}.damaged-${stamp}-${n}`;
  // The database last: a -wal left behind would be replayed into a new database of that name.
  for (const suffix of ['-wal', '-shm', '']) {
    try {
      await rename(`${file}${suffix}`, `${aside}${suffix}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  await syncFolder(stateDirOf(root));
  return aside;
}

/**
 * Replaces a damaged or missing state database with a fresh one holding only `link`: no
 * cursor, no base, no hash cache. The next rounds compare every local file with every file
 * on the hub as a first sync does (the planner with no base): identical content is agreed
 * on without a transfer, a file on one side only goes to the other, different content keeps
 * the hub's version at the path and the local one as a conflicted copy. Nothing is lost; a
 * deletion on the hub this device never received cannot be told from a file created here,
 * so that file goes back to the hub. The caller holds the folder's lock. Returns the fresh
 * store and where the damaged database went (undefined when it was missing).
 */
export async function rebuildFolderState(
  root: string,
  link: LinkInfo,
): Promise<{ store: StateStore; movedTo: string | undefined }> {
  const movedTo = await moveDamagedState(root);
  return { store: await createFolderState(root, link), movedTo };
}

/**
 * Creates the state of a folder linked by `link` (the lock held): `.tandem/state.db` with the
 * link, and its copy in `.tandem/link.json`.
 */
export async function createFolderState(root: string, link: LinkInfo): Promise<StateStore> {
  const store = await openFolderState(root, true);
  try {
    store.setLink(link);
    await writeLinkFile(root, link);
  } catch (error) {
    store.close();
    throw error;
  }
  return store;
}

/** Walks up from `path` to the synced folder that holds it. */
export async function findSyncedRoot(path: string): Promise<string | undefined> {
  let current = resolve(path);
  for (;;) {
    if (await isLinked(current)) return current;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** A folder that holds `.tandem`, as a real folder (a link of a folder never counts). */
async function holdsState(dir: string): Promise<boolean> {
  try {
    return (await lstat(stateDirOf(dir))).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Another synced folder that `root` lies inside, or that lies inside `root`: a synced
 * folder cannot hold another, since each agent would sync the other's files (and an inner
 * one linked to the same workspace receives the whole tree again, into itself, level after
 * level). Looks up every folder above `root`, and walks below it (never through links)
 * until it finds one. Returns a sentence saying which, or undefined.
 */
export async function otherLink(root: string): Promise<string | undefined> {
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    if (await holdsState(dir))
      return `${root} lies inside ${dir}, which is already synced: sync ${dir} itself, or choose a folder outside it`;
    if (dirname(dir) === dir) break;
  }
  const below = await findStateBelow(root);
  return below === undefined
    ? undefined
    : `${root} contains ${below}, which is already synced: a synced folder cannot hold another; move ${below} out first, or sync a folder that does not contain it`;
}

/** The first folder strictly below `root` that holds `.tandem`, walking breadth first. */
async function findStateBelow(root: string): Promise<string | undefined> {
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    let dir;
    try {
      dir = await opendir(next);
    } catch {
      continue; // unreadable: the scan reports it
    }
    for await (const entry of dir) {
      if (!entry.isDirectory()) continue;
      const path = join(next, entry.name);
      if (entry.name === STATE_DIR) {
        if (next !== root) return next;
        continue;
      }
      queue.push(path);
    }
  }
  return undefined;
}

export interface FolderLock {
  release(): Promise<void>;
}

/**
 * Takes `.tandem/lock` for this process. Returns the pid of the holder instead when another
 * live process holds it; a lock left by a dead process is taken over.
 */
export async function lockFolder(root: string): Promise<FolderLock | { heldBy: number }> {
  const file = join(stateDirOf(root), 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => unlink(file).catch(() => undefined) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && isAlive(pid)) return { heldBy: pid };
      await unlink(file).catch(() => undefined); // stale: its process is gone
    }
  }
  throw new Error(`cannot take the lock ${file}`);
}

/** True while process `pid` runs (the holder of a lock, say). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

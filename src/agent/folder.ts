/**
 * A synced folder's own state: `DIR/.tandem/` with `state.db` and a lock file that keeps two
 * agents off one folder.
 */
import { lstat, mkdir, open, opendir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { STATE_DIR } from '../core/ignore.js';
import { StateStore } from './state-store.js';

export function stateDirOf(root: string): string {
  return join(root, STATE_DIR);
}

/** True when DIR has been linked (holds `.tandem/state.db`). */
export async function isLinked(root: string): Promise<boolean> {
  try {
    await stat(join(stateDirOf(root), 'state.db'));
    return true;
  } catch {
    return false;
  }
}

/** Opens the state of a folder, creating `.tandem` when `create`. */
export async function openFolderState(root: string, create: boolean): Promise<StateStore> {
  if (create) await mkdir(stateDirOf(root), { recursive: true });
  return new StateStore(join(stateDirOf(root), 'state.db'));
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

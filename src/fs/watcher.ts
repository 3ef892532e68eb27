/**
 * Filesystem change hints. Events only say "something under here changed": the scan is the
 * truth. When the native watcher cannot start, the caller falls back to periodic scans.
 *
 * @parcel/watcher watches the whole tree, but it holds back every event that comes within
 * half a second of its last report for 50 ms, to batch them. Someone saving a file again and
 * again pays those 50 ms each time, so the folders where something changed lately are also
 * watched directly with `fs.watch`, which reports at once. Both report into the same hints;
 * the direct watches come and go, the tree watch stays. Only small batches make a folder
 * hot, and a folder busier than a few events a second goes back to the tree watch: in bulk,
 * batching is worth more than 50 ms, and `fs.watch` calls back once per event.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import watcher from '@parcel/watcher';

export interface WatchHandle {
  close(): Promise<void>;
}

/** How many recently active folders are watched directly. */
const HOT_FOLDERS = 8;
/** A folder with no event for this long is no longer watched directly (ms). */
const HOT_IDLE_MS = 60_000;
/** A batch from the tree watch with more events than this makes no folder hot. */
const HOT_BATCH = 8;
/** A hot folder with more events than this within a second is dropped. */
const HOT_EVENTS_PER_SECOND = 64;

/**
 * Watches `root` recursively, calling `onChange` with the changed absolute paths (ignoring
 * `ignoreDirs`, relative names of folders directly under root). `onError` receives watcher
 * failures (e.g. too many watches); the watch may be dead after one.
 */
export async function watchTree(
  root: string,
  ignoreDirs: readonly string[],
  onChange: (paths: string[]) => void,
  onError: (error: Error) => void,
): Promise<WatchHandle> {
  const ignored = ignoreDirs.map((dir) => join(root, dir));
  const isIgnored = (path: string) =>
    ignored.some((dir) => path === dir || path.startsWith(`${dir}/`));
  const hot = new HotFolders(onChange);
  const subscription = await watcher.subscribe(
    root,
    (error, events) => {
      if (error) {
        onError(error);
        return;
      }
      if (events.length === 0) return;
      const paths = events.map((e) => e.path);
      onChange(paths);
      if (paths.length > HOT_BATCH) return;
      for (const path of paths) {
        const folder = dirname(path);
        if ((folder === root || folder.startsWith(`${root}/`)) && !isIgnored(folder))
          hot.add(folder);
      }
    },
    { ignore: [...ignoreDirs] },
  );
  return {
    close: async () => {
      hot.close();
      try {
        await subscription.unsubscribe();
      } catch {
        // inotify refuses to remove watches of folders that were deleted meanwhile
        // ("Unable to remove watcher: Invalid argument"); the watch is gone either way.
      }
    },
  };
}

interface HotWatch {
  readonly watcher: FSWatcher;
  lastEvent: number;
  /** Events counted in the current second (`second`, in whole seconds since the epoch). */
  second: number;
  events: number;
}

/**
 * Direct watches of the few folders that changed last (least recently active dropped
 * first). Best effort: a folder that cannot be watched, or whose watch fails, is left to
 * the tree watch.
 */
export class HotFolders {
  /** Folder -> its watch, least recently active first. */
  private readonly watches = new Map<string, HotWatch>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly onChange: (paths: string[]) => void) {
    this.sweeper = setInterval(() => this.sweep(), HOT_IDLE_MS / 2);
    this.sweeper.unref();
  }

  add(folder: string): void {
    const existing = this.watches.get(folder);
    if (existing) {
      this.touch(folder, existing);
      return;
    }
    let direct: FSWatcher;
    try {
      direct = watch(folder, { persistent: false }, (_event, name) => {
        const entry = this.watches.get(folder);
        if (entry) this.touch(folder, entry);
        this.onChange([name ? join(folder, name.toString()) : folder]);
      });
    } catch {
      return; // gone already, or no watches left: the tree watch still covers it
    }
    direct.on('error', () => this.drop(folder));
    this.watches.set(folder, { watcher: direct, lastEvent: Date.now(), second: 0, events: 0 });
    if (this.watches.size > HOT_FOLDERS) this.drop(this.watches.keys().next().value!);
  }

  /** The folders watched directly now. */
  get folders(): string[] {
    return [...this.watches.keys()];
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const folder of [...this.watches.keys()]) this.drop(folder);
  }

  private touch(folder: string, entry: HotWatch): void {
    const now = Date.now();
    entry.lastEvent = now;
    const second = Math.floor(now / 1000);
    if (second !== entry.second) {
      entry.second = second;
      entry.events = 0;
    }
    if (++entry.events > HOT_EVENTS_PER_SECOND) {
      this.drop(folder);
      return;
    }
    this.watches.delete(folder);
    this.watches.set(folder, entry);
  }

  private drop(folder: string): void {
    this.watches.get(folder)?.watcher.close();
    this.watches.delete(folder);
  }

  private sweep(): void {
    const cutoff = Date.now() - HOT_IDLE_MS;
    for (const [folder, entry] of this.watches) if (entry.lastEvent < cutoff) this.drop(folder);
  }
}

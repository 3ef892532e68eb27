/**
 * Filesystem change hints. Events only say "something under here changed": the scan is the
 * truth. When the native watcher cannot start, the caller falls back to periodic scans.
 */
import watcher from '@parcel/watcher';

export interface WatchHandle {
  close(): Promise<void>;
}

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
  const subscription = await watcher.subscribe(
    root,
    (error, events) => {
      if (error) onError(error);
      else if (events.length > 0) onChange(events.map((e) => e.path));
    },
    { ignore: [...ignoreDirs] },
  );
  return {
    close: async () => {
      try {
        await subscription.unsubscribe();
      } catch {
        // inotify refuses to remove watches of folders that were deleted meanwhile
        // ("Unable to remove watcher: Invalid argument"); the watch is gone either way.
      }
    },
  };
}

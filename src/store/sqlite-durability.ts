/**
 * Durable SQLite commits that do not stop the event loop. better-sqlite3 runs every statement
 * on the calling thread, so with `synchronous = FULL` each commit waited there for the fsync
 * of the write-ahead log (5-20 ms on this disk), and nothing else on the hub ran meanwhile:
 * uploads, downloads and other commits. In WAL mode, `synchronous = NORMAL` appends a commit
 * to the log without syncing it; `sync` then fsyncs the log on libuv's thread pool, and the
 * caller acknowledges the write only after that. The guarantee is FULL's: a commit is
 * acknowledged once the log holding it is on disk. (Checkpoints sync the log before copying
 * it into the database and the database after, in both modes.)
 *
 * A database that is not in WAL mode (`:memory:`, or a filesystem without shared memory,
 * where SQLite keeps its rollback journal) stays at FULL, and `sync` does nothing.
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export class WalDurability {
  /** The log's path, when commits are left for `sync` to make durable. */
  private readonly wal: string | undefined;
  private log: { handle: Promise<FileHandle>; ino: number } | undefined;

  /**
   * Puts `db` (opened from `file`) in WAL mode where it can be, and its synchronous mode to
   * what `sync` completes.
   */
  constructor(db: Database.Database, file: string) {
    const mode = String(db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
    if (file !== ':memory:' && file !== '' && mode === 'wal') {
      db.pragma('synchronous = NORMAL');
      this.wal = `${file}-wal`;
    } else {
      db.pragma('synchronous = FULL');
    }
  }

  /** Makes every transaction committed so far durable. */
  async sync(): Promise<void> {
    if (!this.wal) return;
    // The log is reset in place after a checkpoint, but it is a new file if another
    // connection closed the database last: then the open handle is reopened.
    const ino = statSync(this.wal, { throwIfNoEntry: false })?.ino;
    if (ino === undefined) {
      // No log: everything is in the database file, which the last checkpoint synced.
      return;
    }
    if (this.log?.ino !== ino) {
      const stale = this.log?.handle;
      this.log = { handle: openLog(this.wal), ino };
      void stale?.then((h) => h.close()).catch(() => undefined);
    }
    const handle = this.log.handle;
    try {
      await (await handle).sync();
    } catch (error) {
      if (this.log?.handle === handle) this.log = undefined;
      throw error;
    }
  }

  async close(): Promise<void> {
    const handle = this.log?.handle;
    this.log = undefined;
    await handle?.then((h) => h.close()).catch(() => undefined);
  }
}

/** Opens the log for fsyncs, and makes its name durable in its folder once. */
async function openLog(path: string): Promise<FileHandle> {
  const handle = await open(path, 'r');
  try {
    const folder = await open(dirname(path), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

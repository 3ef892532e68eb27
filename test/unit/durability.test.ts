/**
 * Writes to the hub's SQLite databases are acknowledged only after the write-ahead log is
 * fsynced, off the event loop; reads cost no fsync.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/server/db/open.js';
import { WalDurability } from '../../src/store/sqlite-durability.js';

describe('durable SQLite writes', () => {
  const dirs: string[] = [];
  const folder = () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-durable-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    vi.restoreAllMocks();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the fsync to sync() in WAL mode, and keeps FULL where there is no log', async () => {
    const file = join(folder(), 'a.db');
    const db = new Database(file);
    const durability = new WalDurability(db, file);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    db.exec('CREATE TABLE t (x)');
    db.prepare('INSERT INTO t VALUES (1)').run();
    await durability.sync();
    await durability.close();
    db.close();

    const memory = new Database(':memory:');
    new WalDurability(memory, ':memory:');
    expect(memory.pragma('synchronous', { simple: true })).toBe(2); // FULL
    memory.close();
  });

  it('syncs the log that is there now, after another connection replaced it', async () => {
    const file = join(folder(), 'b.db');
    const db = new Database(file);
    const durability = new WalDurability(db, file);
    db.exec('CREATE TABLE t (x)');
    await durability.sync();
    db.close(); // the last connection: the log is checkpointed and deleted
    const again = new Database(file);
    again.prepare('INSERT INTO t VALUES (2)').run();
    // The handle fsynced must be the new log file's, not the deleted one's.
    const probe = await open(file);
    const handleSync = vi.spyOn(Object.getPrototypeOf(probe) as FileHandle, 'sync');
    await probe.close();
    await durability.sync();
    // (Reopened: its folder is fsynced first, then the log.)
    expect(handleSync).toHaveBeenCalledTimes(2);
    const synced = handleSync.mock.contexts[1] as FileHandle;
    expect((await synced.stat()).ino).toBe(statSync(`${file}-wal`).ino);
    again.close();
    await durability.close();
  });

  it('fsyncs after a query or a transaction that wrote, and not after reads', async () => {
    const { db } = await openDatabase({ kind: 'sqlite', file: join(folder(), 'hub.db') });
    const sync = vi.spyOn(WalDurability.prototype, 'sync');
    const row = { id: 'u1', name: 'ann', password_hash: 'x', created_at: 1 };

    await db.selectFrom('users').selectAll().execute();
    await db.transaction().execute((trx) => trx.selectFrom('users').selectAll().execute());
    expect(sync).not.toHaveBeenCalled();

    await db.insertInto('users').values(row).execute();
    expect(sync).toHaveBeenCalledTimes(1);
    await db
      .transaction()
      .execute((trx) =>
        trx.updateTable('users').set({ name: 'bo' }).where('id', '=', 'u1').execute(),
      );
    expect(sync).toHaveBeenCalledTimes(2);
    await db.destroy();
  });
});

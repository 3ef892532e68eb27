/**
 * Opens the metadata database and brings its schema up to date. SQLite runs in WAL mode, and
 * a query that wrote resolves only once the log holding it is fsynced (see WalDurability), so
 * an acknowledged write survives a crash of the machine.
 */
import SQLite from 'better-sqlite3';
import { stat } from 'node:fs/promises';
import {
  Kysely,
  Migrator,
  SqliteDialect,
  SqliteDriver,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
} from 'kysely';
import { WalDurability } from '../../store/sqlite-durability.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export interface SqliteConfig {
  readonly kind: 'sqlite';
  /** A file path, or ':memory:' for tests. */
  readonly file: string;
}

export type DatabaseConfig = SqliteConfig;

export interface OpenedDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: DatabaseConfig['kind'];
  /**
   * Throws when the database file is no longer the one opened: deleted or replaced under the
   * hub, SQLite would go on writing into a file nobody can open again (for /health).
   */
  readonly checkFile: () => Promise<void>;
}

/** Opens and migrates. Throws with a clear message when the file cannot be opened. */
export async function openDatabase(config: DatabaseConfig): Promise<OpenedDatabase> {
  const sqlite = new SQLite(config.file);
  const durability = new WalDurability(sqlite, config.file);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // A multi-row insert in a transaction keeps a statement journal (to undo just that
  // statement), and SQLite spills one past 64 KiB to a new file in /var/tmp: each pushed
  // group of files created such files and wrote them ~5,300 times per 10,000 files, on the
  // event loop. Kept in memory, they cost a few megabytes while a commit runs, and a full
  // or read-only /var/tmp can no longer fail commits.
  sqlite.pragma('temp_store = MEMORY');
  const writes = { pending: false };
  const db = new Kysely<Database>({
    dialect: new DurableSqliteDialect(
      { database: preparedOnce(sqlite, writes) },
      durability,
      writes,
    ),
  });
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(
      `could not migrate the database ${config.file}: ${failed?.migrationName ?? String(error)}`,
      {
        cause: error,
      },
    );
  }
  return { db, dialect: 'sqlite', checkFile: await fileChecker(config.file) };
}

/** See OpenedDatabase.checkFile: the file at `file` must stay the one there now. */
async function fileChecker(file: string): Promise<() => Promise<void>> {
  if (file === ':memory:') return async () => undefined;
  const opened = await stat(file);
  return async () => {
    const now = await stat(file).catch(() => undefined);
    if (!now) throw new Error(`the database file ${file} was deleted while the hub had it open`);
    if (now.ino !== opened.ino || now.dev !== opened.dev)
      throw new Error(`the database file ${file} was replaced while the hub had it open`);
  };
}

const TRANSACTION_CONTROL = /^(begin|commit|rollback)\b/i;

/**
 * Starts the text of a statement whose write need not be durable on its own: it is committed
 * at once (readers see it), but made durable by the next write that is (every commit fsyncs
 * the log, which holds it too), so it costs no fsync of its own. For bookkeeping that a crash
 * may lose harmlessly, such as upload leases (a chunk whose lease is lost is uploaded again).
 */
export const LAZY_WRITE = '/* lazy */';

/**
 * The database as Kysely's SQLite dialect uses it, with each statement prepared once: Kysely
 * prepares every query it runs, which costs more than many of the queries themselves. (One
 * connection runs one query at a time, so a cached statement is never in use twice.) Marks
 * `writes.pending` when a statement that writes is about to run.
 */
function preparedOnce(sqlite: SQLite.Database, writes: { pending: boolean }): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql) => {
      let statement = statements.get(sql);
      if (!statement) {
        // Inserts of n rows differ in text for every n: keep the cache bounded.
        if (statements.size >= 1000) statements.clear();
        statement = sqlite.prepare(sql);
        statements.set(sql, statement);
      }
      // Kysely prepares each query right before running it. (A transaction's own begin and
      // commit write nothing: a transaction that only read needs no fsync.)
      if (!statement.reader && !TRANSACTION_CONTROL.test(sql) && !sql.startsWith(LAZY_WRITE))
        writes.pending = true;
      return statement;
    },
  };
}

/**
 * Kysely's SQLite dialect, with durable writes: the connection is handed back after a query
 * or a transaction that wrote, and only then is the log fsynced (off the event loop) before
 * the caller gets its answer. Others use the connection meanwhile. (Kysely runs queries and
 * transactions one at a time on SQLite's one connection, so what was written while a caller
 * held it is that caller's.)
 */
class DurableSqliteDialect extends SqliteDialect {
  constructor(
    private readonly dialectConfig: SqliteDialectConfig,
    private readonly durability: WalDurability,
    private readonly writes: { pending: boolean },
  ) {
    super(dialectConfig);
  }

  override createDriver(): Driver {
    const { durability, writes } = this;
    return new (class extends SqliteDriver {
      override async releaseConnection(): Promise<void> {
        const wrote = writes.pending;
        writes.pending = false;
        await super.releaseConnection();
        if (wrote) await durability.sync();
      }

      override async destroy(): Promise<void> {
        await durability.close();
        await super.destroy();
      }
    })(this.dialectConfig);
  }
}

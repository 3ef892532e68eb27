/**
 * Opens the metadata database and brings its schema up to date. SQLite runs in WAL mode with
 * `synchronous = FULL`, so a committed transaction survives a crash of the machine.
 */
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase } from 'kysely';
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
}

/** Opens and migrates. Throws with a clear message when the file cannot be opened. */
export async function openDatabase(config: DatabaseConfig): Promise<OpenedDatabase> {
  const sqlite = new SQLite(config.file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: preparedOnce(sqlite) }),
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
  return { db, dialect: 'sqlite' };
}

/**
 * The database as Kysely's SQLite dialect uses it, with each statement prepared once: Kysely
 * prepares every query it runs, which costs more than many of the queries themselves. (One
 * connection runs one query at a time, so a cached statement is never in use twice.)
 */
function preparedOnce(sqlite: SQLite.Database): SqliteDatabase {
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
      return statement;
    },
  };
}

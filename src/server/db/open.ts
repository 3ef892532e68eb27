/**
 * Opens the metadata database and brings its schema up to date. SQLite runs in WAL mode with
 * `synchronous = FULL`, so a committed transaction survives a crash of the machine.
 */
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
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

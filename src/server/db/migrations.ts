/**
 * Schema migrations, in order. Each runs once, inside Kysely's migrator, on SQLite and
 * PostgreSQL alike (only portable types: text, bigint, integer).
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001-initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('devices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('head', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('workspaces_owner_name', ['owner_id', 'name'])
        .execute();
      await db.schema
        .createTable('members')
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('members_pk', ['workspace_id', 'user_id'])
        .execute();
      const entryColumns = <
        T extends { addColumn: (name: string, type: 'text' | 'bigint' | 'integer') => T },
      >(
        t: T,
      ): T =>
        t
          .addColumn('kind', 'text')
          .addColumn('content_id', 'text')
          .addColumn('size', 'bigint')
          .addColumn('executable', 'integer')
          .addColumn('mtime', 'bigint')
          .addColumn('target', 'text');
      await entryColumns(
        db.schema
          .createTable('journal')
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('op', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('from_path', 'text')
          .addColumn('node', 'bigint', (c) => c.notNull())
          .addColumn('base', 'bigint', (c) => c.notNull())
          .addColumn('device_id', 'text')
          .addColumn('user_id', 'text')
          .addColumn('time', 'bigint', (c) => c.notNull()),
      )
        .addPrimaryKeyConstraint('journal_pk', ['workspace_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('journal_path')
        .on('journal')
        .columns(['workspace_id', 'path', 'seq'])
        .execute();
      await db.schema
        .createIndex('journal_content')
        .on('journal')
        .columns(['workspace_id', 'content_id'])
        .execute();
      await entryColumns(
        db.schema
          .createTable('entries')
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('node', 'bigint', (c) => c.notNull()),
      )
        .addPrimaryKeyConstraint('entries_pk', ['workspace_id', 'path'])
        .execute();
      await db.schema
        .createTable('contents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('chunks', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('workspace_chunks')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('chunk_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('workspace_chunks_pk', ['workspace_id', 'chunk_id'])
        .execute();
    },
  },
  // Hub administrators: the first user of a hub is its administrator (as registration makes
  // the first user of a new hub one).
  '0002-admins': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('users')
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`UPDATE users SET is_admin = 1 WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1)`.execute(
        db,
      );
    },
  },
  // Upload leases: a chunk uploaded into a workspace by one of its writers, and not yet linked
  // to it by a commit, counts as that workspace's until the lease expires (possession, not
  // knowledge: see services/chunks.ts). Expired leases of chunks no commit linked are reclaimed.
  '0003-upload-leases': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('upload_leases')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('chunk_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('upload_leases_pk', ['workspace_id', 'chunk_id'])
        .execute();
      await db.schema
        .createIndex('upload_leases_expiry')
        .on('upload_leases')
        .columns(['expires_at'])
        .execute();
      // Which workspaces link a chunk, for reclaiming: the primary key leads with the workspace.
      await db.schema
        .createIndex('workspace_chunks_chunk')
        .on('workspace_chunks')
        .columns(['chunk_id'])
        .execute();
    },
  },
  // Permission bits of files and folders (mode & 0o777). Rows written before keep null and
  // read as the modes their release wrote (rows.ts: columnsToEntry); `executable` stays,
  // derived from the mode, for what reads it.
  '0004-modes': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('journal').addColumn('mode', 'integer').execute();
      await db.schema.alterTable('entries').addColumn('mode', 'integer').execute();
    },
  },
  // Accounts and devices (issue 20). Failed sign-ins are counted here, not in one hub's
  // memory, so hubs sharing the database share the limits (services/sign-in-limits.ts): one
  // row per key and fixed window. Devices remember when and from where they were last seen,
  // and with which release, for `tandem device list`. Registration invites.
  '0005-accounts': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('sign_in_failures')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sign_in_failures_window')
        .on('sign_in_failures')
        .columns(['window_start'])
        .execute();
      await db.schema.alterTable('devices').addColumn('last_seen_at', 'bigint').execute();
      await db.schema.alterTable('devices').addColumn('last_address', 'text').execute();
      await db.schema.alterTable('devices').addColumn('agent_version', 'text').execute();
      // One-time registration codes an administrator makes (`tandem admin invite`), stored
      // hashed like tokens.
      await db.schema
        .createTable('invites')
        .addColumn('code_hash', 'text', (c) => c.primaryKey())
        .addColumn('created_by', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by', 'text')
        .execute();
    },
  },
  // Administration (issue 20): an administrator disables and enables accounts. A disabled
  // user's tokens are refused and their data stays; enabling gives the same tokens back.
  '0006-admin': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').addColumn('disabled_at', 'bigint').execute();
      // Storage quotas: a user's own (null: the hub's default; -1: none), and the default.
      await db.schema.alterTable('users').addColumn('quota', 'bigint').execute();
      await db.schema
        .createTable('hub_settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};

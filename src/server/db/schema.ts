/** The hub's metadata tables, as Kysely sees them. See migrations.ts for the DDL. */
import type { Generated } from 'kysely';

export interface UserTable {
  id: string;
  name: string;
  password_hash: string;
  created_at: number;
  /** 1 for a hub administrator (0 unless set). */
  is_admin: Generated<number>;
  /** When an administrator disabled the account (null while it is enabled). */
  disabled_at: number | null;
  /** Bytes this user's workspaces may hold: null for the hub's default, -1 for no quota. */
  quota: number | null;
}

/** Settings of the hub kept in its database (`default-quota`: bytes, or absent for none). */
export interface HubSettingTable {
  key: string;
  value: string;
}

export interface DeviceTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
  /** When a request of this device was last seen (at most a minute stale); null before. */
  last_seen_at: Generated<number | null>;
  /** The address that request came from. */
  last_address: Generated<string | null>;
  /** The release of Tandem that sent it (its `user-agent`), when it said. */
  agent_version: Generated<string | null>;
}

export interface WorkspaceTable {
  id: string;
  name: string;
  owner_id: string;
  head: number;
  created_at: number;
}

export interface MemberTable {
  workspace_id: string;
  user_id: string;
  role: string;
}

/** Entry columns shared by the journal and the current-state table. */
export interface EntryColumns {
  kind: string | null;
  content_id: string | null;
  size: number | null;
  executable: number | null;
  mtime: number | null;
  target: string | null;
  /** Permission bits of files and folders; null in rows written before modes (see rows.ts). */
  mode: number | null;
}

export interface JournalTable extends EntryColumns {
  workspace_id: string;
  seq: number;
  op: string;
  path: string;
  from_path: string | null;
  node: number;
  base: number;
  device_id: string | null;
  user_id: string | null;
  time: number;
}

export interface EntryTable extends EntryColumns {
  workspace_id: string;
  path: string;
  seq: number;
  node: number;
}

export interface ContentTable {
  id: string;
  size: number;
  /** JSON: [[chunkId, size], ...] */
  chunks: string;
}

export interface WorkspaceChunkTable {
  workspace_id: string;
  chunk_id: string;
}

/** A chunk uploaded into a workspace and not (yet) linked to it by a commit. */
export interface UploadLeaseTable {
  workspace_id: string;
  chunk_id: string;
  expires_at: number;
}

/** Failed sign-ins of one key (an account from an address, or an address) in a window. */
export interface SignInFailureTable {
  key: string;
  window_start: number;
  failures: number;
}

/** A one-time registration code (its SHA-256), and who used it. */
export interface InviteTable {
  code_hash: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

export interface Database {
  users: UserTable;
  devices: DeviceTable;
  workspaces: WorkspaceTable;
  members: MemberTable;
  journal: JournalTable;
  entries: EntryTable;
  contents: ContentTable;
  workspace_chunks: WorkspaceChunkTable;
  upload_leases: UploadLeaseTable;
  sign_in_failures: SignInFailureTable;
  invites: InviteTable;
  hub_settings: HubSettingTable;
}

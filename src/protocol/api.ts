/**
 * The wire: paths, limits and the shapes of the hub's HTTP API. The JSON Schemas the hub
 * validates requests with live in schemas.ts, and the request types here are derived from
 * them, so the two cannot drift apart.
 */
import type { Entry } from '../core/entry.js';
import type { ChunkId, ContentId, Seq } from '../core/ids.js';
import type {
  CommitRequestSchema,
  CredentialsSchema,
  IdListSchema,
  PasswordChangeSchema,
  RegistrationSchema,
  OpSchema,
  UploadPreviewSchema,
} from './schemas.js';
import type { Static } from '@sinclair/typebox';

export const API = '/api/v1';
/**
 * Compared for equality when the event socket opens, so it moves only for a change old
 * devices cannot be served through. Additions both sides can tell apart (modes) keep it, and
 * are named in FEATURES_HEADER instead.
 */
export const PROTOCOL_VERSION = 1;
/**
 * The request header in which a device names the additions to protocol 1 it understands
 * (a comma-separated list of FEATURES). A hub of an earlier release ignores it; this hub
 * sends a device that does not name `modes` its entries without a mode, which that
 * device's checks would refuse.
 */
export const FEATURES_HEADER = 'tandem-features';
/** `modes`: files and folders carry their permission bits (`mode`, 0 to 0o777). */
export const FEATURES = ['modes'] as const;
export type Feature = (typeof FEATURES)[number];

/** True when a FEATURES_HEADER value names `feature`. */
export function hasFeature(header: string | string[] | undefined, feature: Feature): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((part) => part.trim() === feature);
}

/** Largest request body the hub accepts for chunk uploads (one request may carry many chunks). */
export const MAX_CHUNK_BATCH_BYTES = 64 * 1024 * 1024;
/** Largest JSON body (commits with many operations and manifests). */
export const MAX_JSON_BYTES = 32 * 1024 * 1024;
/** The shortest password an account may be given (characters, not bytes). */
export const MIN_PASSWORD_CHARS = 10;
export const MAX_OPS_PER_COMMIT = 10_000;
export const MAX_IDS_PER_QUERY = 20_000;
/** Chunks of one manifest (a file of ~128 GiB at the average chunk size; the JSON body binds first). */
export const MAX_CHUNKS_PER_MANIFEST = 1 << 20;
/** Rows of the change feed per page, and rows of a path's history per answer. */
export const MAX_FEED_PAGE = 100_000;
export const MAX_HISTORY_ROWS = 1_000;
/** Chunks named by one upload preview (8 MiB of them is a few dozen). */
export const MAX_PREVIEW_CHUNKS = 4096;

export type WireOp = Static<typeof OpSchema>;
export type CommitRequest = Static<typeof CommitRequestSchema>;
export type Credentials = Static<typeof CredentialsSchema>;
export type PasswordChange = Static<typeof PasswordChangeSchema>;
export type Registration = Static<typeof RegistrationSchema>;

/**
 * Who may register on a hub (`tandem server --registration`): anyone (`open`, the default),
 * nobody (`closed`), or whoever has a one-time code an administrator made (`invite`). The
 * first user of a hub may always register, and becomes its administrator.
 */
export const REGISTRATION_MODES = ['open', 'closed', 'invite'] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

/** `POST /api/v1/admin/invites`: a one-time registration code, shown once. */
export interface InviteResponse {
  readonly code: string;
  readonly expiresAt: number;
}
export type IdList = Static<typeof IdListSchema>;
/**
 * A stretch of a large file's chunks, stored on the hub, announced by the device uploading it
 * before it commits, so other devices can start fetching them. Only a commit makes a file:
 * a receiver keeps what it fetched aside and uses it only for the part of the committed
 * manifest that matches. `upload` names one read of the file; `at` is the byte offset of the
 * first chunk, and previews of one upload arrive in order, each starting where the last ended.
 */
export type UploadPreview = Static<typeof UploadPreviewSchema>;

export const ROLES = ['owner', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const OPS = ['put', 'delete', 'move'] as const;
export type OpKind = (typeof OPS)[number];

/** An entry on the hub: the current state of one path. */
export interface RemoteRecord {
  readonly path: string;
  readonly seq: Seq;
  readonly node: Seq;
  readonly entry: Entry;
}

/** One journal row: the change feed and the version history. */
export interface JournalRow {
  readonly seq: Seq;
  readonly op: OpKind;
  readonly path: string;
  /** For moves: where the subtree came from. */
  readonly from?: string;
  /** For puts and moves: the entry now at `path`. */
  readonly entry?: Entry;
  readonly node: Seq;
  /** The seq this row replaced at its path (0 when it created the path). */
  readonly base: Seq;
  readonly device: string | null;
  readonly user: string | null;
  readonly time: number;
}

export interface ChangesResponse {
  readonly head: Seq;
  /** Present when `since` was 0: every current entry, as of `head`. */
  readonly snapshot?: readonly RemoteRecord[];
  /** Present when `since` > 0: journal rows after `since`, in order. */
  readonly rows?: readonly JournalRow[];
  /** True when more rows follow: ask again with `since` = the last row's seq. */
  readonly more: boolean;
  /**
   * True from a hub that stores modes: a device may then send them (a hub of an earlier
   * release refuses an entry with a mode, and sends no such field).
   */
  readonly modes?: boolean;
}

export const COMMIT_FAILURES = [
  'conflict',
  'not-empty',
  'parent-not-dir',
  'missing-content',
  'invalid',
] as const;
export type CommitFailure = (typeof COMMIT_FAILURES)[number];

export type OpResult =
  | { readonly ok: true; readonly seq: Seq; readonly node: Seq }
  | {
      readonly ok: false;
      readonly reason: CommitFailure;
      readonly message: string;
      readonly current?: RemoteRecord;
    };

export interface CommitResponse {
  readonly head: Seq;
  readonly results: readonly OpResult[];
}

export interface WorkspaceInfo {
  readonly id: string;
  readonly name: string;
  /** The caller's role. */
  readonly role: Role;
  readonly head: Seq;
  /** The creator while they are an owner, else another owner (hubs before sharing: creator). */
  readonly owner: string;
  /** Every owner, by name (absent from hubs before sharing). */
  readonly owners?: readonly string[];
  /** Bytes of the current files (absent from hubs before sharing). */
  readonly size?: number;
  /** When the head was committed (ms since the epoch); null for an empty history. */
  readonly changed?: number | null;
}

/** One member of a workspace. */
export interface MemberInfo {
  readonly user: string;
  readonly role: Role;
}

export interface AuthResponse {
  readonly user: { readonly id: string; readonly name: string };
  readonly device: { readonly id: string; readonly name: string };
  readonly token: string;
}

/** `GET /api/v1/me`: who the caller is, and what their workspaces store. */
export interface MeResponse {
  readonly user: { readonly id: string; readonly name: string; readonly admin: boolean };
  readonly device: { readonly id: string; readonly name: string };
  /** Bytes of the current files of the workspaces the user owns; quota null: none. */
  readonly storage: { readonly used: number; readonly quota: number | null };
}

/** One user of `GET /api/v1/admin/users` (administrators only). */
export interface AdminUser {
  readonly id: string;
  readonly name: string;
  readonly admin: boolean;
  /** Disabled by an administrator: its tokens are refused, its data kept. */
  readonly disabled: boolean;
  /** Devices not revoked. */
  readonly devices: number;
  /** As in MeResponse. */
  readonly storage: { readonly used: number; readonly quota: number | null };
}

/** One device of `GET /api/v1/devices`. Times are milliseconds since the epoch. */
export interface DeviceInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly revoked: boolean;
  /** The device this request came from. */
  readonly current: boolean;
  /** Its last request (at most a minute stale), its address and its release; null if unknown. */
  readonly lastSeenAt: number | null;
  readonly address: string | null;
  readonly version: string | null;
}

/**
 * The release of Tandem, sent by devices as `user-agent: tandem/VERSION` so that
 * `tandem device list` can say which release each one runs.
 */
export const TANDEM_VERSION = '0.1.0';

export interface MissingResponse {
  readonly missing: readonly ChunkId[];
}

export interface ManifestsResponse {
  readonly manifests: readonly {
    contentId: ContentId;
    size: number;
    chunks: { id: ChunkId; size: number }[];
  }[];
}

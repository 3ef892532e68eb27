/**
 * The wire: request and response shapes of the hub's HTTP API, as JSON Schemas (TypeBox) with
 * the TypeScript types derived from them. The hub validates every request against these.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Entry } from '../core/entry.js';
import type { ChunkId, ContentId, Seq } from '../core/ids.js';

export const API = '/api/v1';
export const PROTOCOL_VERSION = 1;

/** Largest request body the hub accepts for chunk uploads (one request may carry many chunks). */
export const MAX_CHUNK_BATCH_BYTES = 64 * 1024 * 1024;
/** Largest JSON body (commits with many operations and manifests). */
export const MAX_JSON_BYTES = 32 * 1024 * 1024;
export const MAX_OPS_PER_COMMIT = 10_000;
export const MAX_IDS_PER_QUERY = 20_000;

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const WirePath = Type.String({ minLength: 1, maxLength: 4096 });
const SeqSchema = Type.Integer({ minimum: 0 });
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f/\\\\]+$' });

export const EntrySchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('file'),
      contentId: Sha256,
      size: Type.Integer({ minimum: 0 }),
      executable: Type.Boolean(),
      mtime: Type.Integer(),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('dir') }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal('symlink'), target: Type.String({ minLength: 1, maxLength: 4096 }) },
    { additionalProperties: false },
  ),
]);

export const ManifestSchema = Type.Object(
  {
    contentId: Sha256,
    size: Type.Integer({ minimum: 0 }),
    chunks: Type.Array(
      Type.Object(
        { id: Sha256, size: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const OpSchema = Type.Union([
  Type.Object(
    { op: Type.Literal('put'), path: WirePath, base: SeqSchema, entry: EntrySchema },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('delete'), path: WirePath, base: SeqSchema },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('move'), from: WirePath, to: WirePath, base: SeqSchema },
    { additionalProperties: false },
  ),
]);

export const CommitRequestSchema = Type.Object(
  {
    ops: Type.Array(OpSchema, { minItems: 1, maxItems: MAX_OPS_PER_COMMIT }),
    manifests: Type.Optional(Type.Array(ManifestSchema)),
  },
  { additionalProperties: false },
);

export const CredentialsSchema = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    deviceName: Type.Optional(Name),
  },
  { additionalProperties: false },
);

export const CreateWorkspaceSchema = Type.Object({ name: Name }, { additionalProperties: false });
export const AddMemberSchema = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 64 }),
    role: Type.Union([Type.Literal('editor'), Type.Literal('viewer'), Type.Literal('owner')]),
  },
  { additionalProperties: false },
);
export const IdListSchema = Type.Object(
  { ids: Type.Array(Sha256, { maxItems: MAX_IDS_PER_QUERY }) },
  { additionalProperties: false },
);
export const ChangesQuerySchema = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  },
  { additionalProperties: false },
);
export const WorkspaceParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
});
export const ChunkParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  chunkId: Sha256,
});
export const ContentParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  contentId: Sha256,
});

export type WireOp = Static<typeof OpSchema>;
export type CommitRequest = Static<typeof CommitRequestSchema>;
export type Credentials = Static<typeof CredentialsSchema>;
export type IdList = Static<typeof IdListSchema>;

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
  readonly role: Role;
  readonly head: Seq;
  readonly owner: string;
}

export interface AuthResponse {
  readonly user: { readonly id: string; readonly name: string };
  readonly device: { readonly id: string; readonly name: string };
  readonly token: string;
}

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

/** Helper for route declarations: keeps TypeBox schemas typed where Fastify wants them. */
export function schema<T extends TSchema>(value: T): T {
  return value;
}

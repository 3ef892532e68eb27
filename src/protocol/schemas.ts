/**
 * JSON Schemas (TypeBox) of every request body, query and parameter the hub accepts. Kept
 * apart from api.ts so that clients do not load the schema builder.
 *
 * The hub validates without type coercion, so a schema says exactly what is accepted: a
 * number is a JSON number, never a string that looks like one. Query strings are text by
 * nature: their numbers are declared as digit strings and read by `queryNumber`. Every
 * string is bounded, lists have a maximum length, and names and paths may not hold control
 * characters or unpaired surrogates (which no filesystem can store and UTF-8 cannot encode).
 */
import { Type } from '@sinclair/typebox';
import {
  MAX_FILE_BYTES,
  MAX_LINK_TARGET_BYTES,
  MAX_MTIME_MS,
  MIN_MTIME_MS,
  MODE_BITS,
} from '../core/entry.js';
import {
  MAX_CHUNKS_PER_MANIFEST,
  MAX_IDS_PER_QUERY,
  MAX_OPS_PER_COMMIT,
  MAX_PREVIEW_CHUNKS,
} from './api.js';

const SHA256_PATTERN = '^[0-9a-f]{64}$';
const NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f/\\\\\\p{Cs}]+$';
const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const USER_PATTERN = '^[A-Za-z0-9._@-]+$';
const DIGITS_PATTERN = '^[0-9]{1,16}$';
const TARGET_PATTERN = '^[^\\u0000\\p{Cs}]+$';
const UPLOAD_PATTERN = '^[0-9a-f]{16,64}$';

/**
 * What each pattern means, in words: a validation error says this instead of showing the
 * regular expression (see the hub's error formatter).
 */
export const PATTERN_MEANINGS: Readonly<Record<string, string>> = {
  [SHA256_PATTERN]: 'must be a SHA-256 id (64 lowercase hex digits)',
  [NAME_PATTERN]: "must not contain control characters, '/' or '\\'",
  [UUID_PATTERN]: 'must be an id the hub gave out',
  [USER_PATTERN]: "may contain only letters, digits and '.', '_', '@', '-'",
  [DIGITS_PATTERN]: 'must be a whole number',
  [TARGET_PATTERN]: 'must not contain NUL or invalid Unicode',
  [UPLOAD_PATTERN]: 'must be 16 to 64 lowercase hex digits',
};

const Sha256 = Type.String({ pattern: SHA256_PATTERN });
/** Paths are checked in full by checkPath (core/paths.ts); the schema bounds their size. */
const WirePath = Type.String({ minLength: 1, maxLength: 4096 });
const SeqSchema = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const ByteCount = Type.Integer({ minimum: 0, maximum: MAX_FILE_BYTES });
/** A name people give (workspace, device): no control character, no '/' or '\'. */
const Name = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: NAME_PATTERN,
});
/** An id the hub made (randomUUID). */
const Uuid = Type.String({ pattern: UUID_PATTERN });
const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: USER_PATTERN });
/** A whole number in a query string. */
const Digits = Type.String({ pattern: DIGITS_PATTERN });

/**
 * Permission bits. Optional in entries: devices of the release before modes send none (the
 * hub then gives the mode that release wrote: see `withMode`). A file's executable bit must
 * agree with its mode, which `checkEntry` checks after the schema.
 */
const Mode = Type.Integer({ minimum: 0, maximum: MODE_BITS });

export const EntrySchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('file'),
      contentId: Sha256,
      size: ByteCount,
      executable: Type.Boolean(),
      mtime: Type.Integer({ minimum: MIN_MTIME_MS, maximum: MAX_MTIME_MS }),
      mode: Type.Optional(Mode),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal('dir'), mode: Type.Optional(Mode) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('symlink'),
      target: Type.String({
        minLength: 1,
        maxLength: MAX_LINK_TARGET_BYTES,
        pattern: TARGET_PATTERN,
      }),
    },
    { additionalProperties: false },
  ),
]);

export const ManifestSchema = Type.Object(
  {
    contentId: Sha256,
    size: ByteCount,
    chunks: Type.Array(
      Type.Object(
        { id: Sha256, size: Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 }) },
        { additionalProperties: false },
      ),
      { maxItems: MAX_CHUNKS_PER_MANIFEST },
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
    manifests: Type.Optional(Type.Array(ManifestSchema, { maxItems: MAX_OPS_PER_COMMIT })),
  },
  { additionalProperties: false },
);

/** Chunks of a large file being uploaded, announced before the commit (see UploadPreview). */
export const UploadPreviewSchema = Type.Object(
  {
    upload: Type.String({ pattern: UPLOAD_PATTERN }),
    path: WirePath,
    size: ByteCount,
    at: ByteCount,
    chunks: Type.Array(
      Type.Object(
        { id: Sha256, size: Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024 }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_PREVIEW_CHUNKS },
    ),
  },
  { additionalProperties: false },
);

export const CredentialsSchema = Type.Object(
  {
    user: UserName,
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    deviceName: Type.Optional(Name),
  },
  { additionalProperties: false },
);

/** Registration: credentials, and the invite code a hub in `invite` mode asks for. */
export const RegistrationSchema = Type.Object(
  {
    user: UserName,
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    deviceName: Type.Optional(Name),
    invite: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const PasswordChangeSchema = Type.Object(
  {
    current: Type.String({ minLength: 1, maxLength: 1024 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const CreateWorkspaceSchema = Type.Object({ name: Name }, { additionalProperties: false });
export const AddMemberSchema = Type.Object(
  {
    user: UserName,
    role: Type.Union([Type.Literal('editor'), Type.Literal('viewer'), Type.Literal('owner')]),
  },
  { additionalProperties: false },
);
export const IdListSchema = Type.Object(
  { ids: Type.Array(Sha256, { maxItems: MAX_IDS_PER_QUERY }) },
  { additionalProperties: false },
);
/** `growth`: bytes the files of the chunks asked about add to the workspace (for its quota). */
export const MissingQuerySchema = Type.Object(
  { growth: Type.Optional(Digits) },
  { additionalProperties: false },
);
export const ChangesQuerySchema = Type.Object(
  { since: Type.Optional(Digits), limit: Type.Optional(Digits) },
  { additionalProperties: false },
);
export const HistoryQuerySchema = Type.Object(
  { path: WirePath, limit: Type.Optional(Digits) },
  { additionalProperties: false },
);
export const EventsQuerySchema = Type.Object(
  { protocol: Type.Optional(Digits) },
  { additionalProperties: false },
);
export const WorkspaceParamsSchema = Type.Object({ id: Uuid }, { additionalProperties: false });
export const MemberParamsSchema = Type.Object(
  { id: Uuid, user: UserName },
  { additionalProperties: false },
);
export const QuotaSchema = Type.Object(
  {
    quota: Type.Union([
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      Type.Literal('none'),
      Type.Literal('default'),
    ]),
  },
  { additionalProperties: false },
);
export const DefaultQuotaSchema = Type.Object(
  {
    quota: Type.Union([
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);
export const UserParamsSchema = Type.Object({ user: UserName }, { additionalProperties: false });
export const DeviceParamsSchema = Type.Object({ id: Uuid }, { additionalProperties: false });
export const ChunkParamsSchema = Type.Object(
  { id: Uuid, chunkId: Sha256 },
  { additionalProperties: false },
);

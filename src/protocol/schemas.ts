/**
 * JSON Schemas (TypeBox) of every request body, query and parameter the hub accepts. Kept
 * apart from api.ts so that clients do not load the schema builder.
 */
import { Type } from '@sinclair/typebox';
import { MAX_IDS_PER_QUERY, MAX_OPS_PER_COMMIT, MAX_PREVIEW_CHUNKS } from './api.js';

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

/** Chunks of a large file being uploaded, announced before the commit (see UploadPreview). */
export const UploadPreviewSchema = Type.Object(
  {
    upload: Type.String({ pattern: '^[0-9a-f]{16,64}$' }),
    path: WirePath,
    size: Type.Integer({ minimum: 0 }),
    at: Type.Integer({ minimum: 0 }),
    chunks: Type.Array(
      Type.Object(
        { id: Sha256, size: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_PREVIEW_CHUNKS },
    ),
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

/**
 * Storage quotas (issue 20). A user's usage is the bytes of the current files of the
 * workspaces they own (docs/decisions.md): history and deduplication do not count. A
 * workspace takes no chunks for files that would take its owner past their quota: the
 * refusal comes when an agent first asks which chunks to upload, before any is sent.
 */
import { sql } from 'kysely';
import { TandemError } from '../../protocol/errors.js';
import { formatSize } from '../../protocol/sizes.js';
import type { HubContext } from '../context.js';

const DEFAULT_KEY = 'default-quota';

/** Bytes of the current files of the workspaces `userId` owns. */
export async function usageOf(ctx: HubContext, userId: string): Promise<number> {
  const row = await ctx.db
    .selectFrom('entries')
    .innerJoin('workspaces', 'workspaces.id', 'entries.workspace_id')
    .select(sql<number | null>`SUM(entries.size)`.as('used'))
    .where('workspaces.owner_id', '=', userId)
    .where('entries.kind', '=', 'file')
    .executeTakeFirst();
  return Number(row?.used ?? 0);
}

/** The hub's default quota in bytes, null for none. */
export async function defaultQuota(ctx: HubContext): Promise<number | null> {
  const row = await ctx.db
    .selectFrom('hub_settings')
    .select('value')
    .where('key', '=', DEFAULT_KEY)
    .executeTakeFirst();
  return row ? Number(row.value) : null;
}

/** A user's quota column resolved against the default: bytes, or null for none. */
export function effectiveQuota(own: number | null, fallback: number | null): number | null {
  if (own === null) return fallback;
  return Number(own) < 0 ? null : Number(own);
}

/** The quota of `userId` in bytes, null for none. */
export async function quotaOf(ctx: HubContext, userId: string): Promise<number | null> {
  const row = await ctx.db
    .selectFrom('users')
    .select('quota')
    .where('id', '=', userId)
    .executeTakeFirst();
  return effectiveQuota(row?.quota ?? null, await defaultQuota(ctx));
}

/** Sets the default quota (bytes, or null for none). */
export async function setDefaultQuota(ctx: HubContext, bytes: number | null): Promise<void> {
  if (bytes === null) {
    await ctx.db.deleteFrom('hub_settings').where('key', '=', DEFAULT_KEY).execute();
    return;
  }
  await ctx.db
    .insertInto('hub_settings')
    .values({ key: DEFAULT_KEY, value: String(bytes) })
    .onConflict((c) => c.column('key').doUpdateSet({ value: String(bytes) }))
    .execute();
}

/**
 * Sets a user's own quota: bytes, 'none' (no quota whatever the default) or 'default'.
 * Throws NOT_FOUND for an unknown user.
 */
export async function setUserQuota(
  ctx: HubContext,
  userName: string,
  quota: number | 'none' | 'default',
): Promise<void> {
  const result = await ctx.db
    .updateTable('users')
    .set({ quota: quota === 'none' ? -1 : quota === 'default' ? null : quota })
    .where('name', '=', userName)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw TandemError.of('NOT_FOUND', `User ${userName}`);
}

/**
 * Throws QUOTA_EXCEEDED when the owner of `workspaceId` is at or over their quota, or when
 * `growth` more bytes (what the files about to be uploaded add, as their agent says) would
 * take them past it. (An older agent says nothing of growth: an upload it starts below the
 * quota may end above it, and its next one is refused.)
 */
export async function checkQuota(ctx: HubContext, workspaceId: string, growth = 0): Promise<void> {
  const ws = await ctx.db
    .selectFrom('workspaces')
    .select(['owner_id', 'name'])
    .where('id', '=', workspaceId)
    .executeTakeFirst();
  if (!ws) return;
  const quota = await quotaOf(ctx, ws.owner_id);
  if (quota === null) return;
  const used = await usageOf(ctx, ws.owner_id);
  const name = JSON.stringify(ws.name);
  if (used >= quota) throw TandemError.of('QUOTA_EXCEEDED', name, formatSize(quota));
  if (used + growth > quota)
    throw new TandemError(
      'QUOTA_EXCEEDED',
      `Workspace ${name} has ${formatSize(quota - used)} left of its owner's quota of ${formatSize(quota)}, and the files waiting to go up need ${formatSize(growth)}: they are not uploaded until space is freed (delete files, or ask the administrator for more)`,
    );
}

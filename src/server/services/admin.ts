/** What a hub's administrator does to accounts: list them with their usage, disable, enable. */
import { sql } from 'kysely';
import { randomBytes } from 'node:crypto';
import type { AdminUser } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { HubContext } from '../context.js';
import { hashPassword } from '../passwords.js';
import { defaultQuota, effectiveQuota } from './quotas.js';

/**
 * Every user, oldest first, with their active devices and the bytes of the current files of
 * the workspaces they own (what `me` reports as used; see docs/decisions.md). One query per
 * call: enough for the hubs of a family or a team.
 */
export async function listUsers(ctx: HubContext): Promise<AdminUser[]> {
  const rows = await ctx.db
    .selectFrom('users')
    .select([
      'users.id',
      'users.name',
      'users.is_admin',
      'users.disabled_at',
      'users.created_at',
      'users.quota',
      sql<number>`(SELECT COUNT(*) FROM devices WHERE devices.user_id = users.id AND devices.revoked_at IS NULL)`.as(
        'devices',
      ),
      sql<
        number | null
      >`(SELECT SUM(entries.size) FROM entries JOIN workspaces ON workspaces.id = entries.workspace_id WHERE workspaces.owner_id = users.id AND entries.kind = 'file')`.as(
        'used',
      ),
    ])
    .orderBy('users.created_at')
    .orderBy('users.id')
    .execute();
  const fallback = await defaultQuota(ctx);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    admin: Number(r.is_admin) === 1,
    disabled: r.disabled_at !== null,
    devices: Number(r.devices),
    storage: { used: Number(r.used ?? 0), quota: effectiveQuota(r.quota, fallback) },
  }));
}

/**
 * Disables (or enables) the account named `userName`. Disabling refuses its tokens at once
 * (ACCOUNT_DISABLED) and closes its open sockets (an event on the bus); its devices, tokens,
 * workspaces and files stay, so enabling gives it back as it was. Idempotent. Throws
 * NOT_FOUND for an unknown user, and BAD_REQUEST for an administrator disabling themselves
 * (which would leave nobody to undo it).
 */
export async function setDisabled(
  ctx: HubContext,
  adminUserId: string,
  userName: string,
  disabled: boolean,
): Promise<AdminUser> {
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'disabled_at'])
    .where('name', '=', userName)
    .executeTakeFirst();
  if (!user) throw TandemError.of('NOT_FOUND', `User ${userName}`);
  if (disabled && user.id === adminUserId)
    throw TandemError.of('BAD_REQUEST', 'an administrator cannot disable their own account');
  if (disabled !== (user.disabled_at !== null))
    await ctx.db
      .updateTable('users')
      .set({ disabled_at: disabled ? ctx.now() : null })
      .where('id', '=', user.id)
      .execute();
  if (disabled) ctx.events.publish({ kind: 'user-disabled', user: user.id });
  const listed = (await listUsers(ctx)).find((u) => u.id === user.id);
  if (!listed) throw TandemError.of('NOT_FOUND', `User ${userName}`);
  return listed;
}

/**
 * Gives the account named `userName` a new random password (144 bits, base64url: 24
 * characters) and returns it, for the administrator to hand over; the user should change it
 * with `tandem password change`. The old password stops working at once; the user's devices
 * stay signed in (a lost password is no stolen device: `tandem device revoke` and `admin
 * disable` are for those). Throws NOT_FOUND for an unknown user.
 */
export async function resetPassword(
  ctx: HubContext,
  userName: string,
): Promise<{ user: string; password: string }> {
  const password = randomBytes(18).toString('base64url');
  const hash = await hashPassword(password);
  const result = await ctx.db
    .updateTable('users')
    .set({ password_hash: hash })
    .where('name', '=', userName)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw TandemError.of('NOT_FOUND', `User ${userName}`);
  return { user: userName, password };
}

/** Workspaces, members and the role check every workspace route goes through. */
import { randomUUID } from 'node:crypto';
import type { Role, WorkspaceInfo } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';

const RANK: Record<Role, number> = { viewer: 1, editor: 2, owner: 3 };

export async function listWorkspaces(ctx: HubContext, caller: Caller): Promise<WorkspaceInfo[]> {
  const rows = await ctx.db
    .selectFrom('members')
    .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
    .innerJoin('users', 'users.id', 'workspaces.owner_id')
    .select([
      'workspaces.id',
      'workspaces.name',
      'workspaces.head',
      'members.role',
      'users.name as owner',
    ])
    .where('members.user_id', '=', caller.userId)
    .orderBy('workspaces.name')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    head: Number(r.head),
    role: r.role as Role,
    owner: r.owner,
  }));
}

export async function createWorkspace(
  ctx: HubContext,
  caller: Caller,
  name: string,
): Promise<WorkspaceInfo> {
  const id = randomUUID();
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('workspaces')
        .values({ id, name, owner_id: caller.userId, head: 0, created_at: ctx.now() })
        .execute();
      await trx
        .insertInto('members')
        .values({ workspace_id: id, user_id: caller.userId, role: 'owner' })
        .execute();
    });
  } catch (error) {
    const duplicate = await ctx.db
      .selectFrom('workspaces')
      .select('id')
      .where('owner_id', '=', caller.userId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (duplicate)
      throw new TandemError('WORKSPACE_EXISTS', TandemError.of('WORKSPACE_EXISTS', name).message, {
        cause: error,
      });
    throw error;
  }
  return { id, name, head: 0, role: 'owner', owner: caller.userName };
}

/**
 * Throws unless the caller has at least `needed` on the workspace. A workspace the caller
 * cannot see at all is reported as not found, so ids do not leak.
 */
export async function requireRole(
  ctx: HubContext,
  caller: Caller,
  workspaceId: string,
  needed: Role,
): Promise<Role> {
  const row = await ctx.db
    .selectFrom('members')
    .select('role')
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', caller.userId)
    .executeTakeFirst();
  if (!row) throw TandemError.of('WORKSPACE_NOT_FOUND', workspaceId);
  const role = row.role as Role;
  if (RANK[role] < RANK[needed]) throw TandemError.of('FORBIDDEN', needed);
  return role;
}

/** Adds or changes a member; only owners may. */
export async function setMember(
  ctx: HubContext,
  caller: Caller,
  workspaceId: string,
  userName: string,
  role: Role,
): Promise<void> {
  await requireRole(ctx, caller, workspaceId, 'owner');
  const user = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', userName)
    .executeTakeFirst();
  if (!user) throw TandemError.of('NOT_FOUND', `User ${userName}`);
  await ctx.db
    .insertInto('members')
    .values({ workspace_id: workspaceId, user_id: user.id, role })
    .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doUpdateSet({ role }))
    .execute();
}

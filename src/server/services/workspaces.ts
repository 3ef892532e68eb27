/** Workspaces, members and the role check every workspace route goes through. */
import type { Transaction } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { Role, WorkspaceInfo } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import type { Database } from '../db/schema.js';

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

/**
 * Adds a member or changes a member's role (the route lets only owners call it). A workspace
 * always keeps an owner: the last owner cannot be demoted. The member's open sockets learn of
 * the change at once.
 */
export async function setMember(
  ctx: HubContext,
  workspaceId: string,
  userName: string,
  role: Role,
): Promise<void> {
  const user = await findUser(ctx, userName);
  await ctx.db.transaction().execute(async (trx) => {
    if (role !== 'owner') await keepAnOwner(trx, workspaceId, user.id);
    await trx
      .insertInto('members')
      .values({ workspace_id: workspaceId, user_id: user.id, role })
      .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  });
  ctx.events.publish({ kind: 'access-changed', workspace: workspaceId, user: user.id });
}

/**
 * Removes a user's access to a workspace (the route lets only owners call it); the last
 * owner cannot be removed. The user's open sockets are unsubscribed from it at once.
 */
export async function removeMember(
  ctx: HubContext,
  workspaceId: string,
  userName: string,
): Promise<void> {
  const user = await findUser(ctx, userName);
  const removed = await ctx.db.transaction().execute(async (trx) => {
    await keepAnOwner(trx, workspaceId, user.id);
    const result = await trx
      .deleteFrom('members')
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
  if (!removed) throw TandemError.of('NOT_FOUND', `User ${userName} in this workspace`);
  ctx.events.publish({ kind: 'access-changed', workspace: workspaceId, user: user.id });
}

async function findUser(ctx: HubContext, userName: string): Promise<{ id: string }> {
  const user = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', userName)
    .executeTakeFirst();
  if (!user) throw TandemError.of('NOT_FOUND', `User ${userName}`);
  return user;
}

/** Throws LAST_OWNER when `userId` is the workspace's only owner (about to stop being one). */
async function keepAnOwner(
  trx: Transaction<Database>,
  workspaceId: string,
  userId: string,
): Promise<void> {
  const owners = await trx
    .selectFrom('members')
    .select('user_id')
    .where('workspace_id', '=', workspaceId)
    .where('role', '=', 'owner')
    .execute();
  if (owners.length === 1 && owners[0]!.user_id === userId) throw TandemError.of('LAST_OWNER');
}

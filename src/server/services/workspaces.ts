/** Workspaces, members and the role check every workspace route goes through. */
import type { Transaction } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { MemberInfo, Role, WorkspaceInfo } from '../../protocol/api.js';
import { formatError, TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import type { Database } from '../db/schema.js';

const RANK: Record<Role, number> = { viewer: 1, editor: 2, owner: 3 };

/**
 * The workspaces the caller is a member of, with their role, owners, size and last change.
 * Cheap by construction (see docs/decisions.md, "Sharing and roles"): the size is the sum of
 * the current entries' sizes (one indexed range per workspace, no journal replay), the last
 * change the time of the journal row at the head (a primary-key lookup).
 */
export async function listWorkspaces(ctx: HubContext, caller: Caller): Promise<WorkspaceInfo[]> {
  const rows = await ctx.db
    .selectFrom('members')
    .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
    .leftJoin('journal', (join) =>
      join
        .onRef('journal.workspace_id', '=', 'workspaces.id')
        .onRef('journal.seq', '=', 'workspaces.head'),
    )
    .select([
      'workspaces.id',
      'workspaces.name',
      'workspaces.head',
      'workspaces.owner_id',
      'members.role',
      'journal.time as changed',
    ])
    .where('members.user_id', '=', caller.userId)
    .execute();
  if (rows.length === 0) return [];
  // (Joined through the caller's memberships, not a list of ids: no bound on how many.)
  const sizes = new Map(
    (
      await ctx.db
        .selectFrom('entries')
        .innerJoin('members', 'members.workspace_id', 'entries.workspace_id')
        .select([
          'entries.workspace_id',
          (eb) => eb.fn.sum<number | string>('entries.size').as('size'),
        ])
        .where('members.user_id', '=', caller.userId)
        .where('entries.kind', '=', 'file')
        .groupBy('entries.workspace_id')
        .execute()
    ).map((r) => [r.workspace_id, Number(r.size ?? 0)]),
  );
  const owners = new Map<string, { id: string; name: string }[]>();
  for (const o of await ctx.db
    .selectFrom('members')
    .innerJoin('members as mine', 'mine.workspace_id', 'members.workspace_id')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['members.workspace_id', 'users.id', 'users.name'])
    .where('mine.user_id', '=', caller.userId)
    .where('members.role', '=', 'owner')
    .orderBy('users.name')
    .execute())
    owners.set(o.workspace_id, [...(owners.get(o.workspace_id) ?? []), o]);
  const listed = rows.map((r): WorkspaceInfo => {
    const theirs = owners.get(r.id) ?? [];
    // The creator while they are an owner, else the first of the others.
    const shown = theirs.find((o) => o.id === r.owner_id) ?? theirs[0];
    return {
      id: r.id,
      name: r.name,
      head: Number(r.head),
      role: r.role as Role,
      owner: shown?.name ?? '',
      owners: theirs.map((o) => o.name),
      size: sizes.get(r.id) ?? 0,
      changed: r.changed === null ? null : Number(r.changed),
    };
  });
  // By name, then (for names two workspaces share) by owner.
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return listed.sort((a, b) => order(a.name, b.name) || order(a.owner, b.owner));
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
  return {
    id,
    name,
    head: 0,
    role: 'owner',
    owner: caller.userName,
    owners: [caller.userName],
    size: 0,
    changed: null,
  };
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
 * Removes a user's access to a workspace (the route lets only owners call it, so only an
 * owner removes another owner); the last owner cannot be removed. The user's open sockets
 * are unsubscribed from it at once.
 */
export async function removeMember(
  ctx: HubContext,
  workspaceId: string,
  userName: string,
): Promise<void> {
  const user = await findUser(ctx, userName);
  if (!(await dropMember(ctx, workspaceId, user.id)))
    throw TandemError.of('NOT_FOUND', `User ${userName} in this workspace`);
}

/**
 * The caller gives up their own access (any role may); the last owner may not, and is told
 * to name another owner or delete the workspace.
 */
export async function leaveWorkspace(
  ctx: HubContext,
  caller: Caller,
  workspaceId: string,
): Promise<void> {
  await dropMember(ctx, workspaceId, caller.userId);
}

/** Deletes one membership unless it is the last owner's; true when there was one. */
async function dropMember(ctx: HubContext, workspaceId: string, userId: string): Promise<boolean> {
  const removed = await ctx.db.transaction().execute(async (trx) => {
    await keepAnOwner(trx, workspaceId, userId);
    const result = await trx
      .deleteFrom('members')
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
  if (removed) ctx.events.publish({ kind: 'access-changed', workspace: workspaceId, user: userId });
  return removed;
}

/** The members of a workspace, owners first, then editors, then viewers, each by name. */
export async function listMembers(ctx: HubContext, workspaceId: string): Promise<MemberInfo[]> {
  const rows = await ctx.db
    .selectFrom('members')
    .innerJoin('users', 'users.id', 'members.user_id')
    .select(['users.name', 'members.role'])
    .where('members.workspace_id', '=', workspaceId)
    .execute();
  return rows
    .map((r) => ({ user: r.name, role: r.role as Role }))
    .sort(
      (a, b) => RANK[b.role] - RANK[a.role] || (a.user < b.user ? -1 : a.user > b.user ? 1 : 0),
    );
}

/**
 * Renames a workspace (owners only). Linked folders keep working: they name the workspace by
 * its id; every member's open sockets are told the new name. Throws WORKSPACE_EXISTS when the
 * caller already sees a workspace of that name, or its creator already has one.
 */
export async function renameWorkspace(
  ctx: HubContext,
  caller: Caller,
  workspaceId: string,
  name: string,
): Promise<void> {
  const members = await ctx.db.transaction().execute(async (trx) => {
    const clash = await trx
      .selectFrom('members')
      .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
      .select('workspaces.id')
      .where('members.user_id', '=', caller.userId)
      .where('workspaces.name', '=', name)
      .where('workspaces.id', '!=', workspaceId)
      .executeTakeFirst();
    if (clash) throw TandemError.of('WORKSPACE_EXISTS', name);
    try {
      await trx.updateTable('workspaces').set({ name }).where('id', '=', workspaceId).execute();
    } catch (error) {
      // (The creator's own names are unique: see migration 0001.)
      throw new TandemError('WORKSPACE_NAME_TAKEN', formatError('WORKSPACE_NAME_TAKEN', name), {
        cause: error,
      });
    }
    return trx
      .selectFrom('members')
      .select('user_id')
      .where('workspace_id', '=', workspaceId)
      .execute();
  });
  for (const m of members)
    ctx.events.publish({ kind: 'access-changed', workspace: workspaceId, user: m.user_id });
}

/**
 * Deletes a workspace (owners only): its members, entries, journal and chunk links go in one
 * transaction, so no one can read anything of it once this returns. Chunks
 * themselves stay in the store: other workspaces may link the same chunks (storage is
 * deduplicated), and the garbage collector, which checks every link, is what deletes bytes.
 * Its upload leases are left to expire: chunks only uploaded here, and linked nowhere, are
 * then reclaimed as every uncommitted upload is (services/reclaim.ts).
 * Sockets following it are told it was deleted.
 */
export async function deleteWorkspace(ctx: HubContext, workspaceId: string): Promise<void> {
  const name = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('workspaces')
      .select('name')
      .where('id', '=', workspaceId)
      .executeTakeFirst();
    if (!row) throw TandemError.of('WORKSPACE_NOT_FOUND', workspaceId);
    for (const table of ['members', 'entries', 'journal', 'workspace_chunks'] as const)
      await trx.deleteFrom(table).where('workspace_id', '=', workspaceId).execute();
    await trx.deleteFrom('workspaces').where('id', '=', workspaceId).execute();
    return row.name;
  });
  ctx.events.publish({ kind: 'workspace-deleted', workspace: workspaceId, name });
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

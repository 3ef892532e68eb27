/** Users, devices and the tokens that identify them. */
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { MIN_PASSWORD_CHARS, type AuthResponse, type Credentials } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import { hashPassword, hashToken, newDeviceToken, verifyPassword } from '../passwords.js';

const DEFAULT_DEVICE_NAME = 'device';

/** Creates a user and registers the calling machine as its first device. */
export async function register(ctx: HubContext, credentials: Credentials): Promise<AuthResponse> {
  const length = [...credentials.password].length;
  if (length < MIN_PASSWORD_CHARS)
    throw TandemError.of('WEAK_PASSWORD', MIN_PASSWORD_CHARS, length);
  const existing = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', credentials.user)
    .executeTakeFirst();
  if (existing) throw TandemError.of('USER_EXISTS', credentials.user);
  const passwordHash = await hashPassword(credentials.password);
  const userId = randomUUID();
  try {
    await ctx.db
      .insertInto('users')
      .values({
        id: userId,
        name: credentials.user,
        password_hash: passwordHash,
        created_at: ctx.now(),
        // The first user of a hub is its administrator (decided in the insert itself, so two
        // first registrations at once cannot both become one).
        is_admin: sql<number>`(SELECT CASE WHEN EXISTS (SELECT 1 FROM users) THEN 0 ELSE 1 END)`,
      })
      .execute();
  } catch (error) {
    // Two registrations raced past the check above: the unique index decides.
    throw new TandemError('USER_EXISTS', TandemError.of('USER_EXISTS', credentials.user).message, {
      cause: error,
    });
  }
  return addDevice(ctx, userId, credentials.user, credentials.deviceName ?? DEFAULT_DEVICE_NAME);
}

/** Checks the password and registers a new device for the user. */
export async function login(ctx: HubContext, credentials: Credentials): Promise<AuthResponse> {
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'name', 'password_hash'])
    .where('name', '=', credentials.user)
    .executeTakeFirst();
  // Hash even for unknown users, so timing does not reveal which names exist.
  const ok = await verifyPassword(credentials.password, user?.password_hash ?? DUMMY_HASH);
  if (!user || !ok) throw TandemError.of('WRONG_PASSWORD');
  return addDevice(ctx, user.id, user.name, credentials.deviceName ?? DEFAULT_DEVICE_NAME);
}

const DUMMY_HASH = await hashPassword('not a real password');

async function addDevice(
  ctx: HubContext,
  userId: string,
  userName: string,
  deviceName: string,
): Promise<AuthResponse> {
  const token = newDeviceToken();
  const deviceId = randomUUID();
  await ctx.db
    .insertInto('devices')
    .values({
      id: deviceId,
      user_id: userId,
      name: deviceName,
      token_hash: hashToken(token),
      created_at: ctx.now(),
      revoked_at: null,
    })
    .execute();
  return {
    user: { id: userId, name: userName },
    device: { id: deviceId, name: deviceName },
    token,
  };
}

/**
 * Resolves a bearer token to its caller: undefined for an unknown token, 'revoked' for the
 * token of a revoked device (so its agent can say so, instead of "not signed in").
 */
export async function authenticate(
  ctx: HubContext,
  token: string,
): Promise<Caller | 'revoked' | undefined> {
  const row = await ctx.db
    .selectFrom('devices')
    .innerJoin('users', 'users.id', 'devices.user_id')
    .select([
      'devices.id as deviceId',
      'devices.name as deviceName',
      'devices.revoked_at as revokedAt',
      'users.id as userId',
      'users.name as userName',
      'users.is_admin as isAdmin',
    ])
    .where('devices.token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.revokedAt !== null) return 'revoked';
  return {
    userId: row.userId,
    userName: row.userName,
    deviceId: row.deviceId,
    deviceName: row.deviceName,
    admin: Number(row.isAdmin) === 1,
  };
}

/**
 * True while the device exists, is not revoked, and its user is a member of the workspace:
 * what a socket needs at the moment it is sent an event of that workspace.
 */
export async function mayRead(
  ctx: HubContext,
  deviceId: string,
  workspaceId: string,
): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('devices')
    .innerJoin('members', 'members.user_id', 'devices.user_id')
    .select('members.role')
    .where('devices.id', '=', deviceId)
    .where('devices.revoked_at', 'is', null)
    .where('members.workspace_id', '=', workspaceId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Revokes a device of the caller's user: its token stops working at once, and its open
 * sockets are closed (an event on the bus). Another user's device is reported as not found.
 */
export async function revokeDevice(
  ctx: HubContext,
  caller: Caller,
  deviceId: string,
): Promise<void> {
  const result = await ctx.db
    .updateTable('devices')
    .set({ revoked_at: ctx.now() })
    .where('id', '=', deviceId)
    .where('user_id', '=', caller.userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw TandemError.of('NOT_FOUND', `Device ${deviceId}`);
  ctx.events.publish({ kind: 'device-revoked', device: deviceId });
}

export async function listDevices(ctx: HubContext, caller: Caller) {
  const rows = await ctx.db
    .selectFrom('devices')
    .select(['id', 'name', 'created_at', 'revoked_at'])
    .where('user_id', '=', caller.userId)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: Number(r.created_at),
    revoked: r.revoked_at !== null,
    current: r.id === caller.deviceId,
  }));
}

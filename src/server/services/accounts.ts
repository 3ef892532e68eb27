/** Users, devices and the tokens that identify them. */
import { randomUUID } from 'node:crypto';
import type { AuthResponse, Credentials } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import { hashPassword, hashToken, newDeviceToken, verifyPassword } from '../passwords.js';

const DEFAULT_DEVICE_NAME = 'device';

/** Creates a user and registers the calling machine as its first device. */
export async function register(ctx: HubContext, credentials: Credentials): Promise<AuthResponse> {
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

/** Resolves a bearer token to its caller; undefined for unknown or revoked tokens. */
export async function authenticate(ctx: HubContext, token: string): Promise<Caller | undefined> {
  const row = await ctx.db
    .selectFrom('devices')
    .innerJoin('users', 'users.id', 'devices.user_id')
    .select([
      'devices.id as deviceId',
      'devices.name as deviceName',
      'users.id as userId',
      'users.name as userName',
    ])
    .where('devices.token_hash', '=', hashToken(token))
    .where('devices.revoked_at', 'is', null)
    .executeTakeFirst();
  return row;
}

/** Revokes a device of the caller's user; its token stops working at once. */
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
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw TandemError.of('NOT_FOUND', `Device ${deviceId}`);
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

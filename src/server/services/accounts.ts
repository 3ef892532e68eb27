/** Users, devices and the tokens that identify them. */
import { sql } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  MIN_PASSWORD_CHARS,
  type AuthResponse,
  type Credentials,
  type DeviceInfo,
  type InviteResponse,
  type MeResponse,
  type PasswordChange,
  type Registration,
  type RegistrationMode,
} from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import { LAZY_WRITE } from '../db/open.js';
import { quotaOf, usageOf } from './quotas.js';
import { hashPassword, hashToken, newDeviceToken, verifyPassword } from '../passwords.js';

const DEFAULT_DEVICE_NAME = 'device';
/** A device's last-seen time is written at most this often: not on every request. */
export const LAST_SEEN_EVERY_MS = 60_000;

/** Where a request came from, as the device's last-seen columns record it. */
export interface Seen {
  readonly address: string;
  /** The release the device said it runs (`user-agent: tandem/VERSION`), if it did. */
  readonly version: string | undefined;
}

/** The release in a `user-agent: tandem/VERSION` header, or undefined. */
export function versionOf(userAgent: string | undefined): string | undefined {
  const match = /^tandem\/([0-9A-Za-z.+-]{1,40})(?:\s|$)/.exec(userAgent ?? '');
  return match?.[1];
}

function checkStrength(password: string): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_CHARS)
    throw TandemError.of('WEAK_PASSWORD', MIN_PASSWORD_CHARS, length);
}

/** How long an invite code may wait to be used. */
export const INVITE_TTL_MS = 7 * 24 * 60 * 60_000;

/**
 * Creates a user and registers the calling machine as its first device. The first user of a
 * hub may always register and becomes its administrator; after that, `mode` decides: `open`
 * lets anyone, `closed` nobody (REGISTRATION_CLOSED), `invite` whoever brings an unused,
 * unexpired code (INVITE_REQUIRED, INVITE_INVALID), which the registration uses up in the
 * transaction that creates the user (a failed registration leaves it unused).
 */
export async function register(
  ctx: HubContext,
  registration: Registration,
  seen: Seen,
  mode: RegistrationMode,
): Promise<AuthResponse> {
  const first =
    (await ctx.db.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined;
  // Refused by the mode before anything about names is said.
  if (!first && mode === 'closed') throw TandemError.of('REGISTRATION_CLOSED');
  if (!first && mode === 'invite') {
    if (registration.invite === undefined) throw TandemError.of('INVITE_REQUIRED');
    // (Checked here too, so that a made-up code does not learn which names are taken.)
    if (!(await inviteUsable(ctx, registration.invite))) throw TandemError.of('INVITE_INVALID');
  }
  checkStrength(registration.password);
  const existing = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', registration.user)
    .executeTakeFirst();
  if (existing) throw TandemError.of('USER_EXISTS', registration.user);
  const passwordHash = await hashPassword(registration.password);
  const userId = randomUUID();
  const now = ctx.now();
  try {
    await ctx.db.transaction().execute(async (trx) => {
      // (Checked again inside: the first user may have registered meanwhile.)
      const admin =
        (await trx.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined;
      if (!admin && mode === 'closed') throw TandemError.of('REGISTRATION_CLOSED');
      if (!admin && mode === 'invite') {
        if (registration.invite === undefined) throw TandemError.of('INVITE_REQUIRED');
        const used = await trx
          .updateTable('invites')
          .set({ used_at: now, used_by: userId })
          .where('code_hash', '=', hashToken(registration.invite))
          .where('used_at', 'is', null)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) throw TandemError.of('INVITE_INVALID');
      }
      await trx
        .insertInto('users')
        .values({
          id: userId,
          name: registration.user,
          password_hash: passwordHash,
          created_at: now,
          // The first user of a hub is its administrator (decided in the insert itself, so
          // two first registrations at once cannot both become one).
          is_admin: sql<number>`(SELECT CASE WHEN EXISTS (SELECT 1 FROM users) THEN 0 ELSE 1 END)`,
        })
        .execute();
    });
  } catch (error) {
    if (error instanceof TandemError) throw error;
    // Two registrations raced past the check above: the unique index decides.
    throw new TandemError('USER_EXISTS', TandemError.of('USER_EXISTS', registration.user).message, {
      cause: error,
    });
  }
  return addDevice(
    ctx,
    userId,
    registration.user,
    registration.deviceName ?? DEFAULT_DEVICE_NAME,
    seen,
  );
}

async function inviteUsable(ctx: HubContext, code: string): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('invites')
    .select('code_hash')
    .where('code_hash', '=', hashToken(code))
    .where('used_at', 'is', null)
    .where('expires_at', '>', ctx.now())
    .executeTakeFirst();
  return row !== undefined;
}

/** A one-time registration code, valid for INVITE_TTL_MS; stored only as its SHA-256. */
export async function createInvite(ctx: HubContext, caller: Caller): Promise<InviteResponse> {
  const code = `tdi_${randomBytes(18).toString('base64url')}`;
  const now = ctx.now();
  await ctx.db
    .insertInto('invites')
    .values({
      code_hash: hashToken(code),
      created_by: caller.userId,
      created_at: now,
      expires_at: now + INVITE_TTL_MS,
      used_at: null,
      used_by: null,
    })
    .execute();
  return { code, expiresAt: now + INVITE_TTL_MS };
}

/**
 * Checks the password and registers a new device for the user. Throws WRONG_PASSWORD for a
 * wrong password and an unknown user alike, after the same work.
 */
export async function login(
  ctx: HubContext,
  credentials: Credentials,
  seen: Seen,
): Promise<AuthResponse> {
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'name', 'password_hash', 'disabled_at'])
    .where('name', '=', credentials.user)
    .executeTakeFirst();
  // Hash even for unknown users, so timing does not reveal which names exist.
  const ok = await verifyPassword(credentials.password, user?.password_hash ?? DUMMY_HASH);
  if (!user || !ok) throw TandemError.of('WRONG_PASSWORD');
  // (Only after the right password: a disabled account is no answer to a guess.)
  if (user.disabled_at !== null) throw TandemError.of('ACCOUNT_DISABLED');
  return addDevice(ctx, user.id, user.name, credentials.deviceName ?? DEFAULT_DEVICE_NAME, seen);
}

/**
 * Changes the caller's password after checking the current one (WRONG_PASSWORD otherwise,
 * which the sign-in limits count). The user's devices stay signed in.
 */
export async function changePassword(
  ctx: HubContext,
  caller: Caller,
  change: PasswordChange,
): Promise<void> {
  const user = await ctx.db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '=', caller.userId)
    .executeTakeFirstOrThrow();
  if (!(await verifyPassword(change.current, user.password_hash)))
    throw TandemError.of('WRONG_PASSWORD');
  checkStrength(change.password);
  await ctx.db
    .updateTable('users')
    .set({ password_hash: await hashPassword(change.password) })
    .where('id', '=', caller.userId)
    .execute();
}

/** The caller, and the bytes of the current files of the workspaces the user owns. */
export async function me(ctx: HubContext, caller: Caller): Promise<MeResponse> {
  return {
    user: { id: caller.userId, name: caller.userName, admin: caller.admin },
    device: { id: caller.deviceId, name: caller.deviceName },
    storage: {
      used: await usageOf(ctx, caller.userId),
      quota: await quotaOf(ctx, caller.userId),
    },
  };
}

const DUMMY_HASH = await hashPassword('not a real password');

async function addDevice(
  ctx: HubContext,
  userId: string,
  userName: string,
  deviceName: string,
  seen: Seen,
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
      last_seen_at: ctx.now(),
      last_address: seen.address,
      agent_version: seen.version ?? null,
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
 * token of a revoked device (so its agent can say so, instead of "not signed in"), 'disabled'
 * for a device of a user an administrator disabled (its token works again once enabled). With
 * `seen`, records the device's last request, address and release when the record is older
 * than LAST_SEEN_EVERY_MS or says another address or release (a write without an fsync of
 * its own: a crash may lose a minute of it).
 */
export async function authenticate(
  ctx: HubContext,
  token: string,
  seen?: Seen,
): Promise<Caller | 'revoked' | 'disabled' | undefined> {
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
      'users.disabled_at as disabledAt',
      'devices.last_seen_at as lastSeenAt',
      'devices.last_address as lastAddress',
      'devices.agent_version as version',
    ])
    .where('devices.token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.revokedAt !== null) return 'revoked';
  if (row.disabledAt !== null) return 'disabled';
  if (seen) {
    const now = ctx.now();
    const version = seen.version ?? row.version;
    if (
      row.lastSeenAt === null ||
      now - Number(row.lastSeenAt) >= LAST_SEEN_EVERY_MS ||
      row.lastAddress !== seen.address ||
      row.version !== version
    )
      await sql`${sql.raw(LAZY_WRITE)} UPDATE devices SET last_seen_at = ${now}, last_address = ${seen.address}, agent_version = ${version} WHERE id = ${row.deviceId}`.execute(
        ctx.db,
      );
  }
  return {
    userId: row.userId,
    userName: row.userName,
    deviceId: row.deviceId,
    deviceName: row.deviceName,
    admin: Number(row.isAdmin) === 1,
  };
}

/**
 * True while the device exists, is not revoked, and its user is enabled and a member of the workspace:
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
    .innerJoin('users', 'users.id', 'devices.user_id')
    .select('members.role')
    .where('devices.id', '=', deviceId)
    .where('devices.revoked_at', 'is', null)
    .where('users.disabled_at', 'is', null)
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

/** The caller's user's devices, oldest first, revoked ones included. */
export async function listDevices(ctx: HubContext, caller: Caller): Promise<DeviceInfo[]> {
  const rows = await ctx.db
    .selectFrom('devices')
    .select([
      'id',
      'name',
      'created_at',
      'revoked_at',
      'last_seen_at',
      'last_address',
      'agent_version',
    ])
    .where('user_id', '=', caller.userId)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: Number(r.created_at),
    revoked: r.revoked_at !== null,
    current: r.id === caller.deviceId,
    lastSeenAt: r.last_seen_at === null ? null : Number(r.last_seen_at),
    address: r.last_address,
    version: r.agent_version,
  }));
}

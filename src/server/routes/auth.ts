/** Registration, login, passwords and device management. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {
  Credentials,
  PasswordChange,
  Registration,
  RegistrationMode,
} from '../../protocol/api.js';
import {
  CredentialsSchema,
  DeviceParamsSchema,
  PasswordChangeSchema,
  RegistrationSchema,
  UserParamsSchema,
  QuotaSchema,
  DefaultQuotaSchema,
} from '../../protocol/schemas.js';
import { callerOf } from '../access.js';
import type { HubContext } from '../context.js';
import {
  changePassword,
  createInvite,
  listDevices,
  login,
  me,
  register,
  revokeDevice,
  versionOf,
  type Seen,
} from '../services/accounts.js';
import { listUsers, resetPassword, setDisabled } from '../services/admin.js';
import { setDefaultQuota, setUserQuota } from '../services/quotas.js';
import { limitSignIn, SignInLimitedError, type SignInLimits } from '../services/sign-in-limits.js';

/** Credentials are a few hundred bytes. */
const AUTH_BODY_BYTES = 16 * 1024;

const seenOf = (request: FastifyRequest): Seen => ({
  address: request.ip,
  version: versionOf(request.headers['user-agent']),
});

/** A refusal by the sign-in limits says when to try again (`Retry-After`, in seconds). */
async function withRetryAfter<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof SignInLimitedError)
      void reply.header('retry-after', String(error.retryAfterSeconds));
    throw error;
  }
}

export function registerAuthRoutes(
  app: FastifyInstance,
  ctx: HubContext,
  limits: SignInLimits,
  registration: RegistrationMode,
): void {
  // (Registration checks no password, so it fails only for a taken name, a weak password or
  // the hub's mode; invite codes are 144 random bits, beyond guessing: no limit on failures.)
  app.post<{ Body: Registration }>(
    '/api/v1/auth/register',
    {
      config: { access: 'anonymous' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: RegistrationSchema },
    },
    async (request, reply) =>
      reply.status(201).send(await register(ctx, request.body, seenOf(request), registration)),
  );

  app.post('/api/v1/admin/invites', { config: { access: 'admin' } }, async (request, reply) =>
    reply.status(201).send(await createInvite(ctx, callerOf(request))),
  );

  app.get('/api/v1/admin/users', { config: { access: 'admin' } }, async () => ({
    users: await listUsers(ctx),
  }));

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const)
    app.post<{ Params: { user: string } }>(
      `/api/v1/admin/users/:user/${action}`,
      { config: { access: 'admin' }, schema: { params: UserParamsSchema } },
      async (request) => ({
        user: await setDisabled(ctx, callerOf(request).userId, request.params.user, disabled),
      }),
    );

  app.post<{ Params: { user: string } }>(
    '/api/v1/admin/users/:user/reset-password',
    { config: { access: 'admin' }, schema: { params: UserParamsSchema } },
    async (request) => resetPassword(ctx, request.params.user),
  );

  app.put<{ Params: { user: string }; Body: { quota: number | 'none' | 'default' } }>(
    '/api/v1/admin/users/:user/quota',
    {
      config: { access: 'admin' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { params: UserParamsSchema, body: QuotaSchema },
    },
    async (request, reply) => {
      await setUserQuota(ctx, request.params.user, request.body.quota);
      return reply.status(204).send();
    },
  );

  app.put<{ Body: { quota: number | null } }>(
    '/api/v1/admin/default-quota',
    {
      config: { access: 'admin' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: DefaultQuotaSchema },
    },
    async (request, reply) => {
      await setDefaultQuota(ctx, request.body.quota);
      return reply.status(204).send();
    },
  );

  app.post<{ Body: Credentials }>(
    '/api/v1/auth/login',
    {
      config: { access: 'anonymous' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: CredentialsSchema },
    },
    async (request, reply) =>
      withRetryAfter(reply, () =>
        limitSignIn(ctx, limits, { user: request.body.user, address: request.ip }, () =>
          login(ctx, request.body, seenOf(request)),
        ),
      ),
  );

  // A wrong current password counts as a failed sign-in: a stolen device token is not a way
  // to guess the password.
  app.post<{ Body: PasswordChange }>(
    '/api/v1/auth/password',
    {
      config: { access: 'signed-in' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: PasswordChangeSchema },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      await withRetryAfter(reply, () =>
        limitSignIn(ctx, limits, { user: caller.userName, address: request.ip }, () =>
          changePassword(ctx, caller, request.body),
        ),
      );
      return reply.status(204).send();
    },
  );

  app.get('/api/v1/me', { config: { access: 'signed-in' } }, async (request) =>
    me(ctx, callerOf(request)),
  );

  app.get('/api/v1/devices', { config: { access: 'signed-in' } }, async (request) => ({
    devices: await listDevices(ctx, callerOf(request)),
  }));

  // Another user's device answers 404, as a device that does not exist. A device may revoke
  // itself (`tandem logout`).
  app.delete<{ Params: { id: string } }>(
    '/api/v1/devices/:id',
    { config: { access: 'signed-in' }, schema: { params: DeviceParamsSchema } },
    async (request, reply) => {
      await revokeDevice(ctx, callerOf(request), request.params.id);
      return reply.status(204).send();
    },
  );
}

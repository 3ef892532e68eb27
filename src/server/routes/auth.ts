/** Registration, login and device management. */
import type { FastifyInstance } from 'fastify';
import type { Credentials } from '../../protocol/api.js';
import { CredentialsSchema, DeviceParamsSchema } from '../../protocol/schemas.js';
import { TandemError } from '../../protocol/errors.js';
import { callerOf } from '../access.js';
import type { HubContext } from '../context.js';
import type { RateLimiter } from '../rate-limit.js';
import { listDevices, login, register, revokeDevice } from '../services/accounts.js';

/** Credentials are a few hundred bytes. */
const AUTH_BODY_BYTES = 16 * 1024;

export function registerAuthRoutes(
  app: FastifyInstance,
  ctx: HubContext,
  limiters: { perUser: RateLimiter; perClient: RateLimiter },
): void {
  const limited = (ip: string, user: string) => {
    if (!limiters.perUser.take(`${ip}|${user}`) || !limiters.perClient.take(ip))
      throw TandemError.of('RATE_LIMITED');
  };

  app.post<{ Body: Credentials }>(
    '/api/v1/auth/register',
    {
      config: { access: 'anonymous' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: CredentialsSchema },
    },
    async (request, reply) => {
      limited(request.ip, request.body.user);
      return reply.status(201).send(await register(ctx, request.body));
    },
  );

  app.post<{ Body: Credentials }>(
    '/api/v1/auth/login',
    {
      config: { access: 'anonymous' },
      bodyLimit: AUTH_BODY_BYTES,
      schema: { body: CredentialsSchema },
    },
    async (request) => {
      limited(request.ip, request.body.user);
      return login(ctx, request.body);
    },
  );

  app.get('/api/v1/me', { config: { access: 'signed-in' } }, async (request) => {
    const caller = callerOf(request);
    return {
      user: { id: caller.userId, name: caller.userName, admin: caller.admin },
      device: { id: caller.deviceId, name: caller.deviceName },
    };
  });

  app.get('/api/v1/devices', { config: { access: 'signed-in' } }, async (request) => ({
    devices: await listDevices(ctx, callerOf(request)),
  }));

  // Another user's device answers 404, as a device that does not exist.
  app.delete<{ Params: { id: string } }>(
    '/api/v1/devices/:id',
    { config: { access: 'signed-in' }, schema: { params: DeviceParamsSchema } },
    async (request, reply) => {
      await revokeDevice(ctx, callerOf(request), request.params.id);
      return reply.status(204).send();
    },
  );
}

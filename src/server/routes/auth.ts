/** Registration, login and device management. */
import type { FastifyInstance } from 'fastify';
import type { Credentials } from '../../protocol/api.js';
import { CredentialsSchema } from '../../protocol/schemas.js';
import { TandemError } from '../../protocol/errors.js';
import { requireCaller } from '../app.js';
import type { HubContext } from '../context.js';
import type { RateLimiter } from '../rate-limit.js';
import { listDevices, login, register, revokeDevice } from '../services/accounts.js';

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
    { schema: { body: CredentialsSchema } },
    async (request, reply) => {
      limited(request.ip, request.body.user);
      return reply.status(201).send(await register(ctx, request.body));
    },
  );

  app.post<{ Body: Credentials }>(
    '/api/v1/auth/login',
    { schema: { body: CredentialsSchema } },
    async (request) => {
      limited(request.ip, request.body.user);
      return login(ctx, request.body);
    },
  );

  app.get('/api/v1/me', async (request) => {
    const caller = await requireCaller(ctx, request);
    return {
      user: { id: caller.userId, name: caller.userName },
      device: { id: caller.deviceId, name: caller.deviceName },
    };
  });

  app.get('/api/v1/devices', async (request) => ({
    devices: await listDevices(ctx, await requireCaller(ctx, request)),
  }));

  app.delete<{ Params: { id: string } }>('/api/v1/devices/:id', async (request, reply) => {
    await revokeDevice(ctx, await requireCaller(ctx, request), request.params.id);
    return reply.status(204).send();
  });
}

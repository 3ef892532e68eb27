/**
 * The event socket: one per agent or browser. The hub sends a small `changed` poke when a
 * subscribed workspace's head moves (the receiver pulls the feed from its own cursor), and
 * passes on other devices' upload previews.
 */
import type { FastifyInstance } from 'fastify';
import { PROTOCOL_VERSION } from '../../protocol/api.js';
import { formatError } from '../../protocol/errors.js';
import {
  CLOSE_PROTOCOL_MISMATCH,
  CLOSE_UNAUTHENTICATED,
  EVENTS_PATH,
  parseClientMessage,
  type HubMessage,
} from '../../protocol/events.js';
import { bearerToken } from '../app.js';
import type { HubContext } from '../context.js';
import { authenticate } from '../services/accounts.js';
import { requireRole } from '../services/workspaces.js';

export function registerEventsRoute(app: FastifyInstance, ctx: HubContext): void {
  app.get(EVENTS_PATH, { websocket: true }, async (socket, request) => {
    const send = (message: HubMessage) => socket.send(JSON.stringify(message));
    const query = request.query as { protocol?: string };
    const protocol = Number(query.protocol ?? PROTOCOL_VERSION);
    if (protocol !== PROTOCOL_VERSION) {
      socket.close(
        CLOSE_PROTOCOL_MISMATCH,
        formatError('PROTOCOL_MISMATCH', PROTOCOL_VERSION, protocol),
      );
      return;
    }
    const token = bearerToken(request);
    const caller = token ? await authenticate(ctx, token) : undefined;
    if (!caller) {
      socket.close(CLOSE_UNAUTHENTICATED, 'not signed in');
      return;
    }
    const subscribed = new Set<string>();
    const unsubscribe = ctx.events.subscribe((event) => {
      if (!subscribed.has(event.workspace)) return;
      if (event.kind === 'head')
        send({ type: 'changed', workspace: event.workspace, seq: event.seq });
      else if (event.device !== caller.deviceId)
        send({ type: 'uploading', workspace: event.workspace, preview: event.preview });
    });
    socket.on('close', unsubscribe);
    socket.on('message', (data: Buffer) => {
      const message = parseClientMessage(data.toString('utf8'));
      if (!message) {
        send({ type: 'error', code: 'BAD_REQUEST', message: 'unknown message' });
        return;
      }
      void (async () => {
        for (const workspace of message.workspaces) {
          try {
            await requireRole(ctx, caller, workspace, 'viewer');
            subscribed.add(workspace);
            const ws = await ctx.db
              .selectFrom('workspaces')
              .select('head')
              .where('id', '=', workspace)
              .executeTakeFirst();
            if (ws) send({ type: 'changed', workspace, seq: Number(ws.head) });
          } catch (error) {
            send({ type: 'error', code: 'FORBIDDEN', message: (error as Error).message });
          }
        }
      })();
    });
    send({ type: 'welcome', protocol: PROTOCOL_VERSION });
  });
}

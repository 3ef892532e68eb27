/**
 * The event socket: one per agent or browser. The hub sends a small `changed` poke when a
 * subscribed workspace's head moves (the receiver pulls the feed from its own cursor), and
 * passes on other devices' upload previews.
 *
 * The upgrade is authenticated by the access hook like any request (no token, no socket).
 * After that, every event is checked at the moment it is sent: it goes out only if the
 * socket's device is still valid and its user still a member of the workspace. Revoking the
 * device closes the socket at once (4401, with the reason); losing access to a workspace, or
 * its deletion, unsubscribes it with an `unsubscribed` message. A change of role (access
 * gained included) and a rename reach every socket of the user as an `access` message.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { PROTOCOL_VERSION, type Role } from '../../protocol/api.js';
import { formatError, TandemError } from '../../protocol/errors.js';
import {
  CLOSE_PROTOCOL_MISMATCH,
  CLOSE_UNAUTHENTICATED,
  EVENTS_PATH,
  parseClientMessage,
  type HubMessage,
} from '../../protocol/events.js';
import { EventsQuerySchema } from '../../protocol/schemas.js';
import { callerOf } from '../access.js';
import type { Caller, HubContext } from '../context.js';
import type { HubEvent } from '../event-bus.js';
import { mayRead } from '../services/accounts.js';
import { requireRole } from '../services/workspaces.js';

/** Workspaces one socket may follow (an agent follows one, a browser a few). */
const MAX_SUBSCRIPTIONS = 1000;

export function registerEventsRoute(app: FastifyInstance, ctx: HubContext): void {
  app.route<{ Querystring: { protocol?: string } }>({
    method: 'GET',
    url: EVENTS_PATH,
    config: { access: 'signed-in' },
    schema: { querystring: EventsQuerySchema },
    // A plain GET (no upgrade) is told what this URL is for.
    handler: async (request) => {
      throw TandemError.of(
        'UPGRADE_REQUIRED',
        `${request.url.split('?')[0]} is the hub's event socket: connect with a WebSocket`,
      );
    },
    wsHandler: (socket, request) => {
      const protocol = Number(request.query.protocol ?? PROTOCOL_VERSION);
      if (protocol !== PROTOCOL_VERSION) {
        socket.close(
          CLOSE_PROTOCOL_MISMATCH,
          formatError('PROTOCOL_MISMATCH', PROTOCOL_VERSION, protocol),
        );
        return;
      }
      new EventSocket(ctx, socket, callerOf(request), request.log).start();
    },
  });
}

/** One socket's subscriptions, and the checks each event passes before it is sent. */
class EventSocket {
  private readonly subscribed = new Set<string>();
  /** Checks and sends run one after another, so events leave in the order they came. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: HubContext,
    private readonly socket: WebSocket,
    private readonly caller: Caller,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    const unsubscribe = this.ctx.events.subscribe((event) => this.onEvent(event));
    this.ctx.metrics.sockets++;
    this.socket.on('close', () => {
      this.ctx.metrics.sockets--;
      unsubscribe();
    });
    this.socket.on('error', () => this.socket.terminate());
    this.socket.on('message', (data: Buffer) => {
      const message = parseClientMessage(data.toString('utf8'));
      if (!message) {
        this.send({ type: 'error', code: 'BAD_REQUEST', message: 'unknown message' });
        return;
      }
      for (const workspace of message.workspaces) this.later(() => this.subscribe(workspace));
    });
    this.send({ type: 'welcome', protocol: PROTOCOL_VERSION });
  }

  private onEvent(event: HubEvent): void {
    switch (event.kind) {
      case 'device-revoked':
        if (event.device === this.caller.deviceId)
          this.socket.close(CLOSE_UNAUTHENTICATED, formatError('DEVICE_REVOKED'));
        return;
      case 'user-disabled':
        if (event.user === this.caller.userId)
          this.socket.close(CLOSE_UNAUTHENTICATED, formatError('ACCOUNT_DISABLED'));
        return;
      case 'access-changed':
        if (event.user === this.caller.userId)
          this.later(() => this.accessChanged(event.workspace));
        return;
      case 'workspace-deleted':
        // (In the queue, after any subscription asked before: it too is told.)
        this.later(async () => {
          if (this.subscribed.delete(event.workspace))
            this.send({
              type: 'unsubscribed',
              workspace: event.workspace,
              code: 'WORKSPACE_DELETED',
              message: formatError('WORKSPACE_DELETED', JSON.stringify(event.name)),
            });
        });
        return;
      case 'head':
        this.later(() =>
          this.deliver(event.workspace, {
            type: 'changed',
            workspace: event.workspace,
            seq: event.seq,
          }),
        );
        return;
      case 'preview':
        if (event.device !== this.caller.deviceId)
          this.later(() =>
            this.deliver(event.workspace, {
              type: 'uploading',
              workspace: event.workspace,
              preview: event.preview,
            }),
          );
        return;
    }
  }

  private later(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((error: unknown) => {
      // A failed check sends nothing; the socket is closed so the client reconnects and
      // pulls the feed (nothing is lost: its cursor is the truth).
      this.log.error({ err: error }, 'event socket check failed');
      this.socket.close(1011, 'the hub could not check this socket; reconnect');
    });
  }

  /** Sends `message` (or, without one, only re-checks) if the device may still read `workspace`. */
  private async deliver(workspace: string, message: HubMessage | undefined): Promise<void> {
    if (!this.subscribed.has(workspace)) return;
    if (!(await mayRead(this.ctx, this.caller.deviceId, workspace))) {
      this.subscribed.delete(workspace);
      // (The user had access: telling them the name it had leaks nothing.)
      const row = await this.ctx.db
        .selectFrom('workspaces')
        .select('name')
        .where('id', '=', workspace)
        .executeTakeFirst();
      this.send({
        type: 'unsubscribed',
        workspace,
        code: 'ACCESS_REMOVED',
        message: formatError('ACCESS_REMOVED', JSON.stringify(row?.name ?? workspace)),
      });
      return;
    }
    if (message) this.send(message);
  }

  /**
   * The user's membership of `workspace` changed: a socket following it that may no longer
   * read it is unsubscribed; any socket of a user who (still or now) has a role there is told
   * the role and the name.
   */
  private async accessChanged(workspace: string): Promise<void> {
    const access = await this.accessOf(workspace);
    if (access === undefined) {
      await this.deliver(workspace, undefined);
      return;
    }
    this.send({ type: 'access', workspace, ...access });
  }

  /** This socket's device's role on `workspace` and its name, if it may read it now. */
  private async accessOf(workspace: string): Promise<{ name: string; role: Role } | undefined> {
    const row = await this.ctx.db
      .selectFrom('devices')
      .innerJoin('members', 'members.user_id', 'devices.user_id')
      .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
      .select(['members.role', 'workspaces.name'])
      .where('devices.id', '=', this.caller.deviceId)
      .where('devices.revoked_at', 'is', null)
      .where('members.workspace_id', '=', workspace)
      .executeTakeFirst();
    return row === undefined ? undefined : { name: row.name, role: row.role as Role };
  }

  private async subscribe(workspace: string): Promise<void> {
    if (this.subscribed.has(workspace)) return;
    try {
      if (this.subscribed.size >= MAX_SUBSCRIPTIONS)
        throw TandemError.of(
          'BAD_REQUEST',
          `a socket may follow at most ${MAX_SUBSCRIPTIONS} workspaces`,
        );
      await requireRole(this.ctx, this.caller, workspace, 'viewer');
    } catch (error) {
      const refusal =
        error instanceof TandemError ? error : TandemError.of('WORKSPACE_NOT_FOUND', workspace);
      this.send({ type: 'unsubscribed', workspace, code: refusal.code, message: refusal.message });
      return;
    }
    this.subscribed.add(workspace);
    const ws = await this.ctx.db
      .selectFrom('workspaces')
      .select('head')
      .where('id', '=', workspace)
      .executeTakeFirst();
    if (!ws) return;
    // (The role now, so that a client that missed a change while away learns it.)
    const access = await this.accessOf(workspace);
    if (access) this.send({ type: 'access', workspace, ...access });
    this.send({ type: 'changed', workspace, seq: Number(ws.head) });
  }

  private send(message: HubMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }
}

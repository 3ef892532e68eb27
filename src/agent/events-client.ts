/**
 * The agent's end of the event socket: subscribes to one workspace and calls `onChanged`
 * when the hub says its head moved (`onUploading` for other devices' upload previews,
 * `onAccess` when it says the user's role or the workspace's name).
 * Reconnects with backoff; every (re)connection also counts as a change, since pokes may have
 * been missed while disconnected. A refusal that reconnecting cannot mend (the token is
 * unknown or revoked, the user lost access to the workspace, another protocol) ends it with
 * `onFatal` and the hub's reason, once.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION, type Role, type UploadPreview } from '../protocol/api.js';
import type { ErrorBody } from '../protocol/errors.js';
import {
  CLOSE_PROTOCOL_MISMATCH,
  CLOSE_UNAUTHENTICATED,
  EVENTS_PATH,
  parseHubMessage,
} from '../protocol/events.js';
import type { HubTrust } from './hub-trust.js';
import { USER_AGENT } from './hub-client.js';

export interface EventsClientOptions {
  readonly hub: string;
  readonly token: string;
  readonly workspaceId: string;
  readonly onChanged: (seq: number) => void;
  /** Another device is uploading a large file to the workspace. */
  readonly onUploading?: (preview: UploadPreview) => void;
  /**
   * The user's role on the workspace, and its name: on each (re)connection, and whenever an
   * owner changes the role or renames the workspace (hubs before sharing never say).
   */
  readonly onAccess?: (role: Role, name: string) => void;
  /**
   * The user's role on another workspace, and its name: the hub says so to every socket of
   * the user when a workspace is shared with them (or their role there changes).
   */
  readonly onOtherAccess?: (workspace: string, role: Role, name: string) => void;
  /** A fatal refusal (revoked token, protocol mismatch): reconnecting will not help. */
  readonly onFatal: (message: string) => void;
  readonly log: (line: string) => void;
  /**
   * How a wss hub's certificate is checked (default: the system's CAs). A pinned hub that
   * presents another certificate ends the client with `onFatal`, as a revoked token does.
   */
  readonly trust?: HubTrust;
}

export class EventsClient {
  private socket: WebSocket | undefined;
  private closed = false;
  private retryMs = 500;
  private timer: NodeJS.Timeout | undefined;
  private connectedOnce = false;
  private fatal = false;

  constructor(private readonly options: EventsClientOptions) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const url = new URL(`${EVENTS_PATH}?protocol=${PROTOCOL_VERSION}`, this.options.hub);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.options.token}`, 'user-agent': USER_AGENT },
      ...(url.protocol === 'wss:' && this.options.trust
        ? this.options.trust.webSocketOptions((refusal) => {
            if (refusal.code === 'CERTIFICATE_CHANGED') this.stop(refusal.message);
          })
        : {}),
    });
    this.socket = socket;
    // The hub refused the upgrade with an HTTP answer (401 for a revoked or unknown token).
    let refused = false;
    socket.on('unexpected-response', (_request, response) => {
      refused = true;
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('error', () => undefined);
      response.on('close', () => {
        socket.terminate();
        if (this.closed) return;
        if (response.statusCode === 401 || response.statusCode === 426) {
          this.stop(errorMessageOf(parts) ?? 'the hub refused this device (HTTP 401)');
        } else {
          this.retry();
        }
      });
    });
    socket.on('open', () => {
      this.retryMs = 500;
      if (this.connectedOnce) this.options.log('reconnected to the hub');
      this.connectedOnce = true;
      socket.send(JSON.stringify({ type: 'subscribe', workspaces: [this.options.workspaceId] }));
    });
    socket.on('message', (data) => {
      const message = parseHubMessage(data.toString());
      if (message?.type === 'welcome' || message?.type === 'error') return;
      if (message?.workspace !== this.options.workspaceId) {
        if (message?.type === 'access')
          this.options.onOtherAccess?.(message.workspace, message.role, message.name);
        return;
      }
      if (message.type === 'changed') this.options.onChanged(message.seq);
      else if (message.type === 'unsubscribed') this.stop(message.message);
      else if (message.type === 'access') this.options.onAccess?.(message.role, message.name);
      else this.options.onUploading?.(message.preview);
    });
    socket.on('close', (code, reason) => {
      if (this.closed || refused) return;
      if (code === CLOSE_PROTOCOL_MISMATCH || code === CLOSE_UNAUTHENTICATED) {
        this.stop(reason.toString() || 'the hub refused the connection');
        return;
      }
      this.retry();
    });
    socket.on('error', () => {
      // 'close' follows and schedules the reconnect.
    });
  }

  private retry(): void {
    this.timer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 15_000);
  }

  /** Ends the connection for good and says why (once). */
  private stop(message: string): void {
    if (this.fatal) return;
    this.fatal = true;
    this.close();
    this.options.onFatal(message);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.terminate();
  }
}

/** The message of a Tandem error body, if `parts` hold one. */
function errorMessageOf(parts: readonly Buffer[]): string | undefined {
  try {
    const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as ErrorBody;
    return typeof body?.error?.message === 'string' ? body.error.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fan-out of events to every WebSocket of this hub: "the head moved", previews of large
 * uploads under way, and changes of access (a device revoked, a user disabled, a user's membership or role changed, a workspace renamed or deleted),
 * on which sockets are closed or unsubscribed at once. A lost head or preview event costs
 * latency, never correctness: receivers pull the change feed from their own cursor, and a
 * preview only lets them fetch early. A lost access event costs nothing either: a socket is
 * sent an event only after checking, at that moment, that its device may read the workspace.
 */
import type { UploadPreview } from '../protocol/api.js';

export type HubEvent =
  | { readonly kind: 'head'; readonly workspace: string; readonly seq: number }
  | {
      readonly kind: 'preview';
      readonly workspace: string;
      readonly preview: UploadPreview;
      /** The uploading device, which needs no preview of its own file. */
      readonly device: string;
    }
  | { readonly kind: 'device-revoked'; readonly device: string }
  /** An administrator disabled the user: every socket of theirs closes. */
  | { readonly kind: 'user-disabled'; readonly user: string }
  /** The user's role on the workspace changed, or the user is no longer a member. */
  | { readonly kind: 'access-changed'; readonly workspace: string; readonly user: string }
  /** The workspace is gone, with every membership (its name, for those who followed it). */
  | { readonly kind: 'workspace-deleted'; readonly workspace: string; readonly name: string };

export type EventListener = (event: HubEvent) => void;

export interface EventBus {
  /** Announces an event; listeners run synchronously and must not throw. */
  publish(event: HubEvent): void;
  subscribe(listener: EventListener): () => void;
}

export class LocalEventBus implements EventBus {
  private readonly listeners = new Set<EventListener>();

  publish(event: HubEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken socket must not stop the others.
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

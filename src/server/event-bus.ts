/**
 * Fan-out of workspace events to every WebSocket of this hub: "the head moved", and previews
 * of large uploads under way. A lost event costs latency, never correctness: receivers pull
 * the change feed from their own cursor, and a preview only lets them fetch early.
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
    };

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

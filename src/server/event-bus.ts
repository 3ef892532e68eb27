/**
 * Fan-out of "workspace head moved" to every WebSocket of this hub. A lost event costs
 * latency, never correctness: receivers pull the change feed from their own cursor.
 */
export type HeadListener = (workspace: string, seq: number) => void;

export interface EventBus {
  /** Announces a new head; listeners run synchronously and must not throw. */
  publish(workspace: string, seq: number): void;
  subscribe(listener: HeadListener): () => void;
}

export class LocalEventBus implements EventBus {
  private readonly listeners = new Set<HeadListener>();

  publish(workspace: string, seq: number): void {
    for (const listener of this.listeners) {
      try {
        listener(workspace, seq);
      } catch {
        // A broken socket must not stop the others.
      }
    }
  }

  subscribe(listener: HeadListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

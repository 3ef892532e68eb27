/**
 * Local deletions wait a moment before they are sent. A rename reaches the agent as two
 * facts, "the old name is gone" and "a new name appeared", and they can arrive in different
 * rounds: the watcher may deliver them in two batches, or a scan may list a folder just
 * before it is renamed and find its old name empty. Sent at once, the first fact is a
 * deletion, and every other device deletes the folder and downloads it all again under the
 * new name. Held until the path has been gone for `settleMs`, the next round sees both
 * facts and sends one move.
 */
import type { Change } from '../core/planner.js';

/** How long a local deletion must stay deleted before it is sent. */
export const DELETE_SETTLE_MS = 500;

export interface HoldResult {
  /** The changes to carry out now. */
  readonly ready: Change[];
  /** Deletions held back; look at them again in `retryInMs`. */
  readonly held: string[];
  readonly retryInMs: number;
}

export class DeletionHold {
  /** Paths planned for deletion, and when each was first found gone. */
  private readonly goneSince = new Map<string, number>();

  constructor(private readonly settleMs = DELETE_SETTLE_MS) {}

  /**
   * Holds back the deletions of paths found gone less than `settleMs` ago. A path the plan
   * no longer deletes (it came back, or was moved) is forgotten.
   */
  filter(changes: readonly Change[], now: number): HoldResult {
    const ready: Change[] = [];
    const held: string[] = [];
    const seen = new Set<string>();
    let retryInMs = this.settleMs;
    for (const change of changes) {
      if (change.type !== 'push-delete') {
        ready.push(change);
        continue;
      }
      seen.add(change.path);
      const since = this.goneSince.get(change.path) ?? now;
      this.goneSince.set(change.path, since);
      const waited = now - since;
      if (waited >= this.settleMs) {
        ready.push(change);
      } else {
        held.push(change.path);
        retryInMs = Math.min(retryInMs, this.settleMs - waited);
      }
    }
    for (const path of this.goneSince.keys()) if (!seen.has(path)) this.goneSince.delete(path);
    return { ready, held, retryInMs };
  }
}

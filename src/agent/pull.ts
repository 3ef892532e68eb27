/**
 * Brings a state's remote tree up to the hub's head: pages of the change feed, each checked
 * as a whole (see `checkPage`) and applied in one transaction. The agent's rounds pull into
 * the folder's state; `tandem status` pulls into a copy of it, to count what would arrive.
 */
import { TandemError } from '../protocol/errors.js';
import { checkPage } from './feed-check.js';
import type { HubClient } from './hub-client.js';
import type { FeedProblem, StateStore } from './state-store.js';

export interface PullOptions {
  readonly now?: () => number;
  /**
   * Called when the hub is behind the state's cursor (restored from a backup?), before the
   * remote tree is dropped and pulled again from zero.
   */
  readonly onCursorAhead?: () => void;
}

/** Pulls every page up to the head. Returns the rows passed over as invalid (see FeedProblem). */
export async function pullInto(
  store: StateStore,
  client: HubClient,
  workspaceId: string,
  options: PullOptions = {},
): Promise<FeedProblem[]> {
  const problems: FeedProblem[] = [];
  for (;;) {
    let page;
    try {
      page = await client.changes(workspaceId, store.cursor);
    } catch (error) {
      if (error instanceof TandemError && error.code === 'CURSOR_AHEAD') {
        options.onCursorAhead?.();
        store.resetRemote();
        continue;
      }
      throw error;
    }
    const wrong = checkPage(page, store.cursor);
    if (wrong)
      throw new TandemError(
        'INTERNAL',
        `the hub sent a change feed that cannot be applied after seq ${store.cursor}: ${wrong}; will retry`,
      );
    problems.push(...store.applyChanges(page, options.now?.()));
    if (!page.more) return problems;
  }
}

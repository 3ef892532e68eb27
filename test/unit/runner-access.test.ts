/**
 * A user removed from a workspace is told so (issue 12's revocation, and the race seen under
 * load): whether the event socket's word or the next round's "not found" reaches the agent
 * first, a workspace it has synced with and can no longer find stops it as access taken away.
 */
import { describe, expect, it } from 'vitest';
import type { RoundResult, SyncEngine } from '../../src/agent/engine.js';
import { SyncRunner } from '../../src/agent/runner.js';
import { TandemError } from '../../src/protocol/errors.js';
import { tempDir } from '../helpers/processes.js';

/** A round that changed something, so the runner goes straight on to the next. */
const busy = {
  planned: 1,
  execution: { applied: 1, problems: [], touched: [] },
  unstable: 0,
  retryInMs: 100,
  scanProblems: [],
  reported: [],
  problems: 0,
  unsent: 0,
  heldDeletions: 0,
} as unknown as RoundResult;

async function stopsWith(rounds: readonly (() => Promise<RoundResult>)[]): Promise<unknown> {
  const root = await tempDir('tandem-runner-');
  let i = 0;
  const engine = {
    store: {
      cursor: 3,
      link: { workspaceName: 'team' },
      hubUnreachableSince: undefined,
      setHubUnreachableSince: () => {},
      deletionRequest: undefined,
    },
    heldDeletions: 0,
    round: () => rounds[Math.min(i++, rounds.length - 1)]!(),
    failed: (error: unknown) => Promise.resolve(String(error)),
    preview: () => Promise.resolve(),
    close: () => Promise.resolve(),
  } as unknown as SyncEngine;
  const runner = new SyncRunner({
    engine,
    root,
    hub: 'http://127.0.0.1:1',
    token: 'token',
    workspaceId: 'w1',
    log: () => {},
  });
  return runner.run().then(
    () => undefined,
    (error: unknown) => error,
  );
}

const notFound = () => Promise.reject(TandemError.of('WORKSPACE_NOT_FOUND', 'w1'));

describe('a workspace that is gone', () => {
  it('is access taken away once the agent has synced with it', async () => {
    const error = await stopsWith([() => Promise.resolve(busy), notFound]);
    expect(error).toBeInstanceOf(TandemError);
    expect((error as TandemError).code).toBe('ACCESS_REMOVED');
    expect((error as Error).message).toMatch(/no longer have access to workspace "team"/);
  });

  it('is not found when the agent never reached it', async () => {
    const error = await stopsWith([notFound]);
    expect((error as TandemError).code).toBe('WORKSPACE_NOT_FOUND');
  });
});

/**
 * A damaged state database met while running (issue 19) stops the agent instead of being
 * retried on the backoff like other failed rounds: the next start rebuilds it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncEngine } from '../../src/agent/engine.js';
import { SyncRunner } from '../../src/agent/runner.js';

describe('the runner', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('stops on a damaged state database, without retrying the round', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tandem-runner-'));
    dirs.push(root);
    const damage = Object.assign(new Error('database disk image is malformed'), {
      code: 'SQLITE_CORRUPT',
    });
    let rounds = 0;
    let failed = 0;
    let runner: SyncRunner | undefined = undefined;
    const engine = {
      store: { cursor: 0, hubUnreachableSince: undefined, setHubUnreachableSince: () => {} },
      round: () => {
        // (Retried, it would go on: stopped at the second round, so that fails fast.)
        if (++rounds > 1) runner?.stop();
        return Promise.reject(damage);
      },
      failed: () => {
        failed++;
        return Promise.resolve('retried');
      },
      preview: () => Promise.resolve(),
      close: () => Promise.resolve(),
    } as unknown as SyncEngine;
    const lines: string[] = [];
    runner = new SyncRunner({
      engine,
      root,
      hub: 'http://127.0.0.1:1',
      token: 'token',
      workspaceId: 'w1',
      log: (line) => lines.push(line),
    });
    await expect(runner.run()).rejects.toBe(damage);
    expect(rounds).toBe(1);
    expect(failed).toBe(0);
    expect(lines.filter((l) => /retrying/.test(l) && /malformed/.test(l))).toEqual([]);
  });
});

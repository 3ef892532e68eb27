/**
 * `tandem status` tells the truth (issue 18): it exits 0 only when the folder and the hub
 * agree; with the hub stopped it says the hub is unreachable (and since when, once the
 * agent noticed) and counts exactly the files waiting to be sent; changes on the hub are
 * counted by path, not by journal row; a path that does not exist says so.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  statusOf,
  stopAll,
  syncOnce,
  tandem,
  tempDir,
  twoDevices,
  waitFor,
} from '../helpers/processes.js';

afterEach(stopAll);

interface Report {
  hubReachable: boolean;
  hubError: string | null;
  hubUnreachableSince: number | null;
  inSync: boolean;
  pending: { upload: number; download: number | null; conflicts: number; writing: number };
}

const status = (dir: string, home: string) => statusOf<Report>(dir, home);

describe('tandem status', () => {
  it('is 0 only in sync, counts by path, and says when the hub is unreachable', async () => {
    const hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'st', 'status');
    const root = await tempDir();
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    await syncOnce(dirA, homeA, ['--workspace', 'status']);
    await syncOnce(dirB, homeB, ['--workspace', 'status']);

    const settled = await status(dirA, homeA);
    expect(settled.code, settled.stderr).toBe(0);
    expect(settled.report).toMatchObject({ hubReachable: true, inSync: true });
    expect((await tandem(['status', dirA], { home: homeA })).stdout).toMatch(
      /in sync with the hub/,
    );

    // One file written five times on B is one path to receive on A, not five.
    for (let i = 0; i < 5; i++) {
      await writeFile(join(dirB, 'busy.txt'), `version ${i}\n`);
      await syncOnce(dirB, homeB);
    }
    const behind = await status(dirA, homeA);
    expect(behind.code).not.toBe(0);
    expect(behind.report.inSync).toBe(false);
    expect(behind.report.pending.download).toBe(1);
    expect(behind.stderr).toMatch(/^tandem: .*not in sync/m);
    await syncOnce(dirA, homeA);

    // The hub goes away; an agent notices, and seven files are made meanwhile.
    await hub.stop();
    const agent = background(['sync', dirA], { home: homeA });
    await waitFor(() => /Cannot reach the hub|unreachable|retrying/i.test(agent.output()), {
      what: () => `the agent to notice the hub is gone (output: ${agent.output()})`,
    });
    await agent.stop();
    for (let i = 0; i < 7; i++) await writeFile(join(dirA, `offline-${i}.txt`), `${i}\n`);
    const offline = await status(dirA, homeA);
    expect(offline.code).not.toBe(0);
    expect(offline.report.hubReachable).toBe(false);
    expect(offline.report.hubError).toBeTruthy();
    expect(offline.report.hubUnreachableSince).toEqual(expect.any(Number));
    expect(offline.report.pending.upload).toBe(7);
    expect(offline.report.pending.download).toBeNull();
    const human = await tandem(['status', dirA], { home: homeA });
    expect(human.code).not.toBe(0);
    expect(human.stdout).toMatch(/hub: .*\(unreachable, since \d{4}-/);
    expect(human.stdout).toMatch(/7 to send/);
    expect(human.stderr).toMatch(/^tandem: .*the hub is unreachable/m);
  });

  it('says a folder that does not exist does not exist', async () => {
    const missing = join(await tempDir(), 'nowhere');
    const result = await tandem(['status', missing, '--json']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toBe(`tandem: ${missing} does not exist`);
    expect(JSON.parse(result.stdout)).toMatchObject({
      error: { message: `${missing} does not exist` },
    });
  });
});

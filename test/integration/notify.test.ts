/**
 * `tandem sync DIR --notify` with a real hub and real agents: files that arrive from another
 * device are one notification per burst, a conflict is told, and so is a workspace another
 * user shares. What would be shown is read from TANDEM_NOTIFY_LOG (the notifier's test hook:
 * a JSON line per notification, in place of notify-send).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  account,
  background,
  startHub,
  stopAll,
  tandem,
  tempDir,
  twoDevices,
  waitFor,
  type Background,
  type Hub,
} from '../helpers/processes.js';

interface Shown {
  title: string;
  body: string;
  urgent?: boolean;
}

async function shownIn(file: string): Promise<Shown[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Shown);
}

describe('tandem sync --notify', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let dirA: string;
  let dirB: string;
  let log: string;
  let agentB: Background;
  const startB = async () => {
    agentB = background(['sync', dirB, '--workspace', 'notes', '--notify'], {
      home: homeB,
      env: { TANDEM_NOTIFY_LOG: log },
    });
    await waitFor(() => agentB.output().includes('up to date'), {
      what: () => `agent B to start\n${agentB.output()}`,
    });
  };

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'alice', 'notes'));
    const root = await tempDir();
    dirA = join(root, 'A');
    dirB = join(root, 'B');
    log = join(root, 'shown.jsonl');
    const agentA = background(['sync', dirA, '--workspace', 'notes'], { home: homeA });
    await waitFor(() => agentA.output().includes('up to date'), {
      what: () => `agent A to start\n${agentA.output()}`,
    });
    await startB();
  }, 90_000);
  afterAll(stopAll);

  it('tells 40 files that arrive at once in one notification', async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        writeFile(join(dirA, `song-${String(i).padStart(2, '0')}.txt`), `verse ${i}\n`),
      ),
    );
    const shown = await waitFor(async () => {
      const all = await shownIn(log);
      return all.length > 0 && all;
    });
    expect(shown).toEqual([
      {
        time: expect.any(String),
        title: 'Tandem: notes',
        body: expect.stringMatching(/^40 files arrived from other devices: song-\d\d\.txt, /),
      },
    ]);
    expect(await readFile(join(dirB, 'song-39.txt'), 'utf8')).toBe('verse 39\n');
    // No second notification follows for the same burst.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await shownIn(log)).toHaveLength(1);
    expect(agentB.output()).not.toMatch(/notifications are off|may not show/);
  });

  it('tells a conflict', async () => {
    await agentB.stop();
    const before = (await shownIn(log)).length;
    await writeFile(join(dirB, 'song-00.txt'), 'changed on B\n');
    await writeFile(join(dirA, 'song-00.txt'), 'changed on A\n');
    await waitFor(
      async () =>
        (
          await tandem(['status', dirA, '--json'], { home: homeA }).then(
            (r) => JSON.parse(r.stdout) as { inSync: boolean },
          )
        ).inSync,
      { what: () => 'A to send its change' },
    );
    await startB();
    const shown = await waitFor(async () => {
      const all = await shownIn(log);
      return all.length > before && all.slice(before);
    });
    expect(shown).toEqual([
      {
        time: expect.any(String),
        title: 'Tandem: notes',
        body: 'Conflict on song-00.txt: it changed here and on another device; both versions are kept (yours as a conflicted copy)',
        urgent: true,
      },
    ]);
    expect(await readFile(join(dirB, 'song-00.txt'), 'utf8')).toBe('changed on A\n');
  });

  it("tells a workspace another user shares, and not a change of one's own", async () => {
    const before = (await shownIn(log)).length;
    const bob = await account(hub.url, 'bob', { register: true, device: 'bobs' });
    expect((await tandem(['workspace', 'create', 'photos'], { home: bob })).code).toBe(0);
    const shared = await tandem(['workspace', 'share', 'photos', 'alice', '--role', 'editor'], {
      home: bob,
    });
    expect(shared.code, shared.stderr).toBe(0);
    const shown = await waitFor(async () => {
      const all = await shownIn(log);
      return all.length > before && all.slice(before);
    });
    expect(shown).toEqual([
      {
        time: expect.any(String),
        title: 'Tandem: shared with you',
        body: '"photos" was shared with you as editor: sync it with `tandem sync DIR --workspace photos`',
      },
    ]);
    // A role change on a workspace alice already had is not a share.
    const demoted = await tandem(['workspace', 'share', 'photos', 'alice', '--role', 'viewer'], {
      home: bob,
    });
    expect(demoted.code, demoted.stderr).toBe(0);
    // Nor is a workspace alice made on her other device, then renamed (which B hears of).
    expect((await tandem(['workspace', 'create', 'drafts'], { home: homeA })).code).toBe(0);
    const renamed = await tandem(['workspace', 'rename', 'drafts', 'drafts-2026'], {
      home: homeA,
    });
    expect(renamed.code, renamed.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await shownIn(log)).toHaveLength(before + 1);
  });

  it('is refused with --once, in one line', async () => {
    const refused = await tandem(['sync', dirB, '--once', '--notify'], { home: homeB });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'tandem: --notify tells what happens while `tandem sync` keeps running: it cannot go with --once\n',
    );
  });
});

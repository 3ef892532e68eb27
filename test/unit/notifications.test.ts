/**
 * `tandem sync --notify`: bursts are summed up in one notification (never one per file),
 * shares are told apart from role changes, and the notifiers show through a real
 * notify-send on the PATH or the TANDEM_NOTIFY_LOG file, and never fail the agent.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  desktopNotifier,
  LogNotifier,
  NotifySendNotifier,
  type Notification,
} from '../../src/agent/notifications.js';
import { MAX_WAIT_MS, QUIET_MS, SyncNotifications } from '../../src/agent/sync-notifications.js';

function recorder(): { shown: Notification[]; notes: SyncNotifications } {
  const shown: Notification[] = [];
  const notes = new SyncNotifications({ show: (n) => shown.push(n) }, { workspace: () => 'notes' });
  return { shown, notes };
}

describe('SyncNotifications', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sums up 500 arriving files in one notification once they stop arriving', () => {
    const { shown, notes } = recorder();
    for (let i = 0; i < 500; i++) {
      vi.advanceTimersByTime(5);
      notes.filesReceived([`docs/file-${i}.txt`]);
    }
    expect(shown).toEqual([]);
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(shown).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual([
      {
        title: 'Tandem: notes',
        body: '500 files arrived from other devices: docs/file-0.txt, docs/file-1.txt, docs/file-2.txt and 497 more',
      },
    ]);
    vi.advanceTimersByTime(MAX_WAIT_MS * 2);
    expect(shown).toHaveLength(1);
  });

  it('says something during a long burst, at most once per MAX_WAIT_MS', () => {
    const { shown, notes } = recorder();
    for (let t = 0; t < MAX_WAIT_MS * 3; t += 500) {
      notes.filesReceived([`f${t}`]);
      vi.advanceTimersByTime(500);
    }
    // (Each burst reached its maximum just as its last file came: nothing is left over.)
    expect(shown).toHaveLength(3);
    vi.advanceTimersByTime(MAX_WAIT_MS);
    expect(shown).toHaveLength(3);
    const counted = shown.map((n) => Number(/^(\d+) files/.exec(n.body)?.[1] ?? 1));
    expect(counted.reduce((a, b) => a + b)).toBe((MAX_WAIT_MS * 3) / 500);
  });

  it('names one file, and counts a file received twice in a burst once', () => {
    const { shown, notes } = recorder();
    notes.filesReceived(['report.txt']);
    notes.filesReceived(['report.txt']);
    vi.advanceTimersByTime(QUIET_MS);
    expect(shown).toEqual([
      { title: 'Tandem: notes', body: 'report.txt arrived from another device' },
    ]);
  });

  it('tells conflicts first, as urgent, in the same notification as the files', () => {
    const { shown, notes } = recorder();
    notes.filesReceived(['a.txt', 'b.txt']);
    notes.conflictsMade(['plan.md']);
    vi.advanceTimersByTime(QUIET_MS);
    expect(shown).toEqual([
      {
        title: 'Tandem: notes',
        body:
          'Conflict on plan.md: it changed here and on another device; both versions are kept (yours as a conflicted copy)\n' +
          '2 files arrived from other devices: a.txt, b.txt',
        urgent: true,
      },
    ]);
    notes.conflictsMade(['x', 'y', 'z', 'w']);
    vi.advanceTimersByTime(QUIET_MS);
    expect(shown[1]!.body).toBe(
      '4 conflicts, both versions kept (yours as conflicted copies): x, y, z and 1 more',
    );
  });

  it('tells a workspace shared with the user, but not a role change on one it had', async () => {
    const { shown, notes } = recorder();
    await notes.access('w-before', 'editor', 'early'); // (not known yet which the user had: quiet)
    notes.knownWorkspaces(['w-own', 'w-old']);
    await notes.access('w-old', 'owner', 'old');
    vi.advanceTimersByTime(QUIET_MS);
    expect(shown).toEqual([]);
    await notes.access('w-new', 'viewer', 'photos');
    await notes.access('w-new', 'editor', 'photos'); // (upgraded at once: still the one share)
    vi.advanceTimersByTime(QUIET_MS);
    expect(shown).toEqual([
      {
        title: 'Tandem: shared with you',
        body: '"photos" was shared with you as viewer: sync it with `tandem sync DIR --workspace photos`',
      },
    ]);
  });

  it("does not tell the user's own workspace, made on another device, as shared", async () => {
    const shown: Notification[] = [];
    const asked: string[] = [];
    const notes = new SyncNotifications(
      { show: (n) => shown.push(n) },
      {
        workspace: () => 'notes',
        isOwn: (id) => {
          asked.push(id);
          return id === 'w-mine' ? Promise.resolve(true) : Promise.reject(new Error('offline'));
        },
      },
    );
    notes.knownWorkspaces([]);
    await notes.access('w-mine', 'owner', 'drafts'); // (renamed from the other device)
    await notes.access('w-theirs', 'editor', 'shared'); // (the hub cannot be asked: told)
    await notes.access('w-mine', 'owner', 'drafts-2');
    vi.advanceTimersByTime(QUIET_MS);
    expect(asked).toEqual(['w-mine', 'w-theirs']);
    expect(shown.map((n) => n.body)).toEqual([
      '"shared" was shared with you as editor: sync it with `tandem sync DIR --workspace shared`',
    ]);
  });

  it('shows what is gathered when flushed (the agent stopping), and nothing when empty', () => {
    const { shown, notes } = recorder();
    notes.flush();
    expect(shown).toEqual([]);
    notes.filesReceived(['last.txt']);
    notes.flush();
    expect(shown).toHaveLength(1);
    vi.advanceTimersByTime(MAX_WAIT_MS);
    expect(shown).toHaveLength(1);
  });
});

describe('notifiers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-notify-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('runs notify-send from the PATH with the title and body', async () => {
    const args = join(dir, 'args');
    await writeFile(
      join(dir, 'notify-send'),
      `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > ${JSON.stringify(args)}\n`,
    );
    await chmod(join(dir, 'notify-send'), 0o755);
    const logged: string[] = [];
    const notifier = desktopNotifier((line) => logged.push(line), { PATH: `/nonexistent:${dir}` });
    expect(notifier).toBeInstanceOf(NotifySendNotifier);
    notifier.show({ title: 'Tandem: notes', body: 'Conflict on a b.txt\nline two', urgent: true });
    const got = await vi.waitFor(() => readFile(args, 'utf8'), { timeout: 5_000 });
    expect(got).toBe(
      '--app-name=Tandem\n--urgency=critical\nTandem: notes\nConflict on a b.txt\nline two\n',
    );
    expect(logged).toEqual([]);
  });

  it('says once that notify-send failed, and never throws', async () => {
    await writeFile(join(dir, 'notify-send'), '#!/bin/sh\nexit 1\n');
    await chmod(join(dir, 'notify-send'), 0o755);
    const logged: string[] = [];
    const notifier = desktopNotifier((line) => logged.push(line), { PATH: dir });
    notifier.show({ title: 't', body: 'b' });
    notifier.show({ title: 't', body: 'b' });
    await vi.waitFor(() => expect(logged).toHaveLength(1), { timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(logged).toEqual([
      expect.stringMatching(
        /^desktop notifications may not show: .*notify-send exited with code 1/,
      ),
    ]);
  });

  it('without notify-send, says how to get it, once, and shows nothing', () => {
    const logged: string[] = [];
    const notifier = desktopNotifier((line) => logged.push(line), { PATH: dir });
    notifier.show({ title: 't', body: 'b' });
    expect(logged).toEqual([
      'desktop notifications are off: notify-send was not found on the PATH (on Debian or Ubuntu: apt install libnotify-bin)',
    ]);
  });

  it('writes one JSON line per notification to TANDEM_NOTIFY_LOG, which wins over notify-send', async () => {
    const file = join(dir, 'shown.jsonl');
    const notifier = desktopNotifier(() => {}, { TANDEM_NOTIFY_LOG: file, PATH: '/usr/bin' });
    expect(notifier).toBeInstanceOf(LogNotifier);
    notifier.show({ title: 'a', body: 'one' });
    notifier.show({ title: 'b', body: 'two', urgent: true });
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { time: expect.any(String), title: 'a', body: 'one' },
      { time: expect.any(String), title: 'b', body: 'two', urgent: true },
    ]);
  });

  it('a log it cannot write is said once, and does not throw', () => {
    const logged: string[] = [];
    const notifier = new LogNotifier(join(dir, 'missing', 'x.jsonl'), (l) => logged.push(l));
    notifier.show({ title: 'a', body: 'b' });
    notifier.show({ title: 'a', body: 'b' });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^cannot write notifications to .*x\.jsonl: ENOENT/);
  });
});

/**
 * SECURITY.md item 5, with real processes: a `tandem server` made hostile by rows written
 * straight into its database (the hub serves its feed and manifests from there without
 * checking them again: what a compromised hub would send), and real agents. The agent must
 * write nothing outside its folder or into its `.tandem`, record no corrupt file as good,
 * list every problem in `tandem status` (and exit non-zero), keep syncing honest changes
 * around them, and stay idle while the problems last.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, HubClient } from '../../src/agent/hub-client.js';
import { contentIdOf } from '../../src/core/hashing.js';
import type { ChunkId, ContentId } from '../../src/core/ids.js';
import {
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

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // (clock ticks: 100 a second)
}

describe('an agent facing a hostile hub', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let workspaceId: string;
  let dirA: string;
  let dirB: string;
  let outside: string;
  let agentA: Background;
  let agentB: Background;
  let wrongSeq: number;
  let client: HubClient;
  const problemPaths: string[] = [];

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'victim', 'hostile'));
    const { token } = JSON.parse(await readFile(join(homeA, 'config.json'), 'utf8')) as {
      token: string;
    };
    client = new HubClient(new HttpTransport(hub.url), token);
    workspaceId = (await client.listWorkspaces()).find((w) => w.name === 'hostile')!.id;
    const root = await tempDir('tandem-hostile-');
    outside = join(root, 'outside'); // the sentinel: must stay empty
    await mkdir(outside);
    dirA = join(root, 'A');
    dirB = join(root, 'B');
    await mkdir(dirA);
    await writeFile(join(dirA, 'start.txt'), 'the first honest file');
    expect(
      (await tandem(['sync', dirA, '--workspace', 'hostile', '--once'], { home: homeA })).code,
    ).toBe(0);

    // A 5-byte chunk the hub stores, committed in another workspace: B has never seen it.
    const scratch = join(root, 'scratch');
    await mkdir(scratch);
    await writeFile(join(scratch, 'five.txt'), '12345');
    expect((await tandem(['workspace', 'create', 'scratch'], { home: homeA })).code).toBe(0);
    expect(
      (await tandem(['sync', scratch, '--workspace', 'scratch', '--once'], { home: homeA })).code,
    ).toBe(0);

    agentA = background(['sync', dirA], { home: homeA });
    agentB = background(['sync', dirB, '--workspace', 'hostile'], { home: homeB });
    await waitFor(
      async () => (await readFile(join(dirB, 'start.txt'), 'utf8').catch(() => '')) !== '',
      {
        what: () => `start.txt on B\n${agentB.output()}`,
      },
    );
  });
  afterAll(async () => {
    await agentA?.stop();
    await agentB?.stop();
    await stopAll();
  });

  it('is fed invalid rows, and a manifest that claims 10 bytes for a 5-byte chunk', async () => {
    const db = new Database(join(hub.dataDir, 'tandem.db'));
    try {
      const start = db
        .prepare('SELECT content_id, size FROM entries WHERE workspace_id = ? AND path = ?')
        .get(workspaceId, 'start.txt') as { content_id: string; size: number };
      const five = { id: sha256(Buffer.from('12345')) as ChunkId, size: 5 };
      const wrongId = contentIdOf([five]) as ContentId;
      const file = (content = start.content_id, size = start.size, mtime = Date.now()) => ({
        kind: 'file',
        content_id: content,
        size,
        executable: 0,
        mtime,
        target: null,
      });
      const rows: [path: string, entry: ReturnType<typeof file> | Record<string, unknown>][] = [
        ['../escape.txt', file()],
        [join(outside, 'absolute.txt'), file()],
        ['.tandem/state.db', file()],
        ['.tandem/x', file()],
        [
          'link',
          {
            kind: 'symlink',
            content_id: null,
            size: null,
            executable: null,
            mtime: null,
            target: outside,
          },
        ],
        ['link/evil.txt', file()],
        ['future.txt', file(start.content_id, start.size, 1e18)],
        ['negative.txt', file(start.content_id, -5)],
        ['wrong.txt', file(wrongId, 10)],
      ];
      problemPaths.push(
        '../escape.txt',
        join(outside, 'absolute.txt'),
        '.tandem/state.db',
        '.tandem/x',
        'link/evil.txt',
        'future.txt',
        'negative.txt',
        'wrong.txt',
      );
      db.transaction(() => {
        const { head } = db
          .prepare('SELECT head FROM workspaces WHERE id = ?')
          .get(workspaceId) as {
          head: number;
        };
        let seq = head;
        const journal = db.prepare(
          `INSERT INTO journal (workspace_id, seq, op, path, from_path, node, base, device_id, user_id, time, kind, content_id, size, executable, mtime, target)
           VALUES (?, ?, 'put', ?, NULL, ?, 0, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)`,
        );
        const entry = db.prepare(
          `INSERT OR REPLACE INTO entries (workspace_id, path, seq, node, kind, content_id, size, executable, mtime, target)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const [path, e] of rows) {
          seq++;
          const columns = [e.kind, e.content_id, e.size, e.executable, e.mtime, e.target];
          journal.run(workspaceId, seq, path, seq, Date.now(), ...columns);
          entry.run(workspaceId, path, seq, seq, ...columns);
          if (path === 'wrong.txt') wrongSeq = seq;
        }
        // The hub keeps whichever manifest of a content arrived first: this one lies about
        // the size of its chunk (the content id covers the chunk ids, not their sizes).
        db.prepare('UPDATE contents SET size = 10, chunks = ? WHERE id = ?').run(
          JSON.stringify([[five.id, 10]]),
          wrongId,
        );
        db.prepare(
          'INSERT OR IGNORE INTO workspace_chunks (workspace_id, chunk_id) VALUES (?, ?)',
        ).run(workspaceId, five.id);
        db.prepare('UPDATE workspaces SET head = ? WHERE id = ?').run(seq, workspaceId);
      })();
    } finally {
      db.close();
    }
    // An honest change after them: its poke makes the agents pull the whole feed.
    await writeFile(join(dirA, 'after.txt'), 'an honest change after the hostile rows');
    await waitFor(
      async () => (await readFile(join(dirB, 'after.txt'), 'utf8').catch(() => '')) !== '',
      {
        what: () => `after.txt on B\n${agentB.output()}`,
      },
    );
  });

  it('writes nothing outside its folder, nor into its .tandem', async () => {
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(dirname(dirB))).toEqual(expect.not.arrayContaining(['escape.txt']));
    expect(await readdir(dirname(dirB))).toEqual(['A', 'B', 'outside', 'scratch']);
    // The link is data (synced as a link, never followed); nothing was written through it.
    expect(await readlink(join(dirB, 'link'))).toBe(outside);
    const own = ['link.json', 'lock', 'reserve', 'state.db', 'state.db-shm', 'state.db-wal', 'tmp'];
    for (const name of await readdir(join(dirB, '.tandem'))) expect(own).toContain(name);
    expect(await readdir(join(dirB, '.tandem/tmp'))).toEqual([]);
    for (const name of ['future.txt', 'negative.txt', 'wrong.txt'])
      expect(await lstat(join(dirB, name)).catch(() => undefined)).toBeUndefined();
  });

  it('records no corrupt file as good', async () => {
    const state = new Database(join(dirB, '.tandem/state.db'), { readonly: true });
    try {
      for (const table of ['base', 'hashes', 'remote']) {
        const paths = (state.prepare(`SELECT path FROM ${table}`).all() as { path: string }[]).map(
          (r) => r.path,
        );
        expect(paths).toEqual(expect.not.arrayContaining(['wrong.txt', 'future.txt']));
        for (const path of problemPaths.filter((p) => p !== 'wrong.txt'))
          expect(paths).not.toContain(path);
      }
    } finally {
      state.close();
    }
  });

  it('lists every problem in tandem status, and exits non-zero', async () => {
    const result = await tandem(['status', dirB, '--json'], { home: homeB });
    expect(result.code).not.toBe(0);
    const status = JSON.parse(result.stdout) as {
      problems: { path: string; message: string; since: number | null }[];
    };
    expect(status.problems.map((p) => p.path).sort()).toEqual([...problemPaths].sort());
    for (const problem of status.problems) {
      expect(problem.since).toBeGreaterThan(0);
      expect(problem.message.length).toBeGreaterThan(10);
    }
    const byPath = new Map(status.problems.map((p) => [p.path, p.message]));
    expect(byPath.get('wrong.txt')).toMatch(/chunk \w+ 10 bytes, but it has 5/);
    expect(byPath.get('future.txt')).toMatch(/from 1970 to 2200/);
    expect(byPath.get('link/evil.txt')).toMatch(/link above it is a link/);
    expect(byPath.get('.tandem/x')).toMatch(/\.tandem/);
    const human = await tandem(['status', dirB], { home: homeB });
    expect(human.code).not.toBe(0);
    expect(human.stdout).toMatch(/problem: +wrong\.txt: /);
  });

  it('stays idle while the problems last, and tells each once', async () => {
    const pid = agentB.child.pid!;
    const before = await cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 5_000));
    const used = (await cpuSeconds(pid)) - before;
    expect(used).toBeLessThan(0.5);
    const lines = agentB.output().split('\n');
    for (const path of ['wrong.txt', 'future.txt', '.tandem/state.db', 'link/evil.txt'])
      expect(lines.filter((line) => line.includes(` ${path}: `))).toHaveLength(1);
  });

  it('still syncs honest changes both ways around them', async () => {
    await writeFile(join(dirB, 'from-b.txt'), 'written on B while the problems last');
    await waitFor(
      async () =>
        (await readFile(join(dirA, 'from-b.txt'), 'utf8').catch(() => '')) ===
        'written on B while the problems last',
      { what: () => `from-b.txt on A\n${agentB.output()}` },
    );
    await writeFile(join(dirA, 'from-a.txt'), 'and on A');
    await waitFor(
      async () => (await readFile(join(dirB, 'from-a.txt'), 'utf8').catch(() => '')) === 'and on A',
    );
  });

  it('takes a later honest version of the file it could not write, and forgets the problem', async () => {
    // An honest device fixes wrong.txt through the hub's API, as any commit would.
    const bytes = Buffer.from('the honest bytes of wrong.txt');
    const chunk = { id: sha256(bytes) as ChunkId, size: bytes.length };
    await client.uploadChunks(workspaceId, [{ id: chunk.id, bytes }]);
    const contentId = contentIdOf([chunk]) as ContentId;
    const response = await client.commit(workspaceId, {
      ops: [
        {
          op: 'put',
          path: 'wrong.txt',
          base: wrongSeq,
          entry: {
            kind: 'file',
            contentId,
            size: bytes.length,
            executable: false,
            mtime: Date.now(),
          },
        },
      ],
      manifests: [{ contentId, size: bytes.length, chunks: [chunk] }],
    });
    expect(response.results[0]).toMatchObject({ ok: true });
    await waitFor(
      async () =>
        (await readFile(join(dirB, 'wrong.txt')).catch(() => undefined))?.equals(bytes) === true,
      { what: () => `the honest wrong.txt on B\n${agentB.output()}` },
    );
    await waitFor(async () => {
      const status = JSON.parse(
        (await tandem(['status', dirB, '--json'], { home: homeB })).stdout,
      ) as {
        problems: { path: string }[];
      };
      return !status.problems.some((p) => p.path === 'wrong.txt');
    });
    expect(await readdir(outside)).toEqual([]);
  });

  it('does not call the folder settled in sync --once while problems stand', async () => {
    await agentB.stop();
    const once = await tandem(['sync', dirB, '--once', '--json'], { home: homeB });
    expect(once.code).not.toBe(0);
    const report = JSON.parse(once.stdout) as { settled: boolean; problems: { path: string }[] };
    expect(report.settled).toBe(false);
    expect(report.problems.map((p) => p.path)).toEqual(expect.arrayContaining(['../escape.txt']));
    expect(once.stderr).toMatch(/did not settle with the hub/);
    expect(await readdir(outside)).toEqual([]);
  });
});

/**
 * Change detection that mtime cannot fool (issue 18), with a real hub and real agents. `cp -p`,
 * `touch -r`, `tar -x`, `rsync -t` and backups put a rewritten file's mtime back, and its size
 * may be the same: only the ctime shows the rewrite. Such an edit must sync whether the agent
 * was running or stopped, and meet a concurrent edit elsewhere as a conflict, not be
 * overwritten. A touch alone (same bytes, new mtime) travels too.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  stopAll,
  tempDir,
  twoDevices,
  waitFor,
  waitForSameTree,
  type Background,
  type Hub,
} from '../helpers/processes.js';

/** Runs a shell command line, as a person at a terminal would. */
const sh = (line: string) => execFileSync('sh', ['-c', line], { stdio: 'pipe' });
const quote = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`;
const mtimeMs = async (path: string) => Math.round((await stat(path)).mtimeMs);
const text = (path: string) => readFile(path, 'utf8');

describe('a rewrite that keeps size and mtime, and a touch, reach the other device', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let A: string;
  let B: string;
  let outside: string;
  let agentA: Background | undefined;
  let agentB: Background | undefined;

  const start = (home: string, dir: string, first = false) => {
    const agent = background(['sync', dir, ...(first ? ['--workspace', 'restored'] : [])], {
      home,
    });
    return agent;
  };
  const upToDate = (agent: Background) =>
    waitFor(() => agent.output().includes('up to date'), {
      timeoutMs: 30_000,
      what: () => `the agent to be up to date (output: ${agent.output()})`,
    });
  const stop = async (agent: Background | undefined) => {
    if (agent) expect(await agent.stop()).toBe(0);
  };
  /** Waits until `path` holds `expected` in both folders, with the same mtime. */
  const arrives = async (path: string, expected: string) => {
    await waitFor(async () => (await text(join(B, path))) === expected, {
      timeoutMs: 30_000,
      what: () => `${path} to arrive on B as ${JSON.stringify(expected)}`,
    });
    const tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get(path)?.mtimeMs).toBe(await mtimeMs(join(A, path)));
  };
  /** `printf TEXT > path; touch -r ref path`: new bytes, same size and mtime. */
  const rewriteKeepingMtime = (path: string, content: string) => {
    const ref = join(outside, 'ref');
    sh(`cp -p ${quote(path)} ${quote(ref)}`);
    sh(`printf '%s' ${quote(content)} > ${quote(path)} && touch -r ${quote(ref)} ${quote(path)}`);
  };
  /** `cp -p` over the file of another of the same size, whose mtime is the file's own. */
  const copyOverKeepingMtime = (path: string, content: string) => {
    const other = join(outside, 'other');
    sh(
      `printf '%s' ${quote(content)} > ${quote(other)} && touch -r ${quote(path)} ${quote(other)}`,
    );
    sh(`cp -p ${quote(other)} ${quote(path)}`);
  };

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'rosa', 'restored', ['one', 'two']));
    const root = await tempDir();
    A = join(root, 'A');
    B = join(root, 'B');
    outside = await tempDir('tandem-outside-');
    agentA = start(homeA, A, true);
    agentB = start(homeB, B, true);
    await Promise.all([upToDate(agentA), upToDate(agentB)]);
  }, 60_000);
  afterAll(async () => {
    await stop(agentA);
    await stop(agentB);
    await stopAll();
  });

  it('(a) while the agent runs: touch -r after a same-size rewrite, and cp -p over the file', async () => {
    await writeFile(join(A, 'same.txt'), 'AAAAAAAA\n');
    await writeFile(join(A, 'copied.txt'), 'aaaaaaaa\n');
    await arrives('same.txt', 'AAAAAAAA\n');
    const before = await mtimeMs(join(A, 'same.txt'));

    rewriteKeepingMtime(join(A, 'same.txt'), 'BBBBBBBB\n');
    expect(await mtimeMs(join(A, 'same.txt'))).toBe(before);
    await arrives('same.txt', 'BBBBBBBB\n');

    copyOverKeepingMtime(join(A, 'copied.txt'), 'cccccccc\n');
    await arrives('copied.txt', 'cccccccc\n');
  }, 90_000);

  it('(b) while the agent was stopped: synced on its next start', async () => {
    await stop(agentA);
    agentA = undefined;
    rewriteKeepingMtime(join(A, 'same.txt'), 'DDDDDDDD\n');
    copyOverKeepingMtime(join(A, 'copied.txt'), 'eeeeeeee\n');
    agentA = start(homeA, A);
    await arrives('same.txt', 'DDDDDDDD\n');
    await arrives('copied.txt', 'eeeeeeee\n');
  }, 90_000);

  it('(c) then an edit on the other device while both changed: a conflicted copy, not an overwrite', async () => {
    await stop(agentA);
    await stop(agentB);
    agentA = agentB = undefined;
    rewriteKeepingMtime(join(A, 'same.txt'), 'FFFFFFFF\n');
    await writeFile(join(B, 'same.txt'), 'edited on B\n');
    // B reaches the hub first: A's rewrite, which A must have seen, is the one in conflict.
    agentB = start(homeB, B);
    await upToDate(agentB);
    agentA = start(homeA, A);
    const tree = await waitForSameTree(A, B, 30_000);
    expect(await text(join(A, 'same.txt'))).toBe('edited on B\n');
    const copies = (await readdir(A)).filter((name) =>
      /^same \(conflicted copy .*\)\.txt$/.test(name),
    );
    expect(copies).toHaveLength(1);
    expect(await text(join(A, copies[0]!))).toBe('FFFFFFFF\n');
    expect(tree.has(copies[0]!)).toBe(true);
  }, 90_000);

  it('(d) touch -d of an mtime arrives on the other device, and is not sent back', async () => {
    await writeFile(join(A, 'touched.txt'), 'same bytes\n');
    await arrives('touched.txt', 'same bytes\n');
    sh(`touch -d '2020-02-03 04:05:06.789 UTC' ${quote(join(A, 'touched.txt'))}`);
    const wanted = Date.parse('2020-02-03T04:05:06.789Z');
    expect(await mtimeMs(join(A, 'touched.txt'))).toBe(wanted);
    await waitFor(async () => (await mtimeMs(join(B, 'touched.txt'))) === wanted, {
      timeoutMs: 30_000,
      what: () => 'the new mtime on B',
    });
    expect(await text(join(B, 'touched.txt'))).toBe('same bytes\n');
    // And on B the other way.
    sh(`touch -d '2019-01-01 00:00:00 UTC' ${quote(join(B, 'touched.txt'))}`);
    await waitFor(
      async () => (await mtimeMs(join(A, 'touched.txt'))) === Date.parse('2019-01-01T00:00:00Z'),
      { timeoutMs: 30_000, what: () => 'the mtime from B on A' },
    );
    await waitForSameTree(A, B, 30_000);
    // Neither agent sends back the mtime it applied: A sent the file and its touch, B its own
    // touch, and nothing more follows.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const sent = (agent: Background) => agent.output().match(/sent touched\.txt/g)?.length ?? 0;
    expect(sent(agentA!)).toBe(2);
    expect(sent(agentB!)).toBe(1);
  }, 90_000);
});

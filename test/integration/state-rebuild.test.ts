/**
 * A damaged state database is detected and rebuilt (issue 19): it used to end in "unexpected
 * error: database disk image is malformed (please report this)". Now the next start moves it
 * aside, makes a fresh one from `.tandem/link.json`, and syncs with no base, as a first sync
 * of a full folder goes: nothing is lost, identical files are not sent again, and a file
 * that differs from the hub keeps the hub's version at its path and this device's as a
 * conflicted copy.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  background,
  hubStats,
  startHub,
  stopAll,
  syncOnce,
  tandem,
  tempDir,
  treeOf,
  twoDevices,
  waitFor,
  waitForSameTree,
} from '../helpers/processes.js';

afterEach(stopAll);

const CONFLICT = / \(conflicted copy \d{4}-\d{2}-\d{2} \d{6} from [^)]+\)/;

/** The texts of every file in the folder (its `.tandem` left out), by path. */
async function texts(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [path, item] of await treeOf(dir))
    if (item.kind === 'file') out.set(path, await readFile(join(dir, path), 'utf8'));
  return out;
}

async function garble(dir: string): Promise<void> {
  const db = join(dir, '.tandem', 'state.db');
  await writeFile(db, randomBytes(64 * 1024));
  await rm(`${db}-wal`, { force: true });
  await rm(`${db}-shm`, { force: true });
}

describe('a damaged state database', () => {
  it('is rebuilt on the next start without losing an edit made meanwhile', async () => {
    const hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'dora', 'rebuild');
    const root = await tempDir();
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    const once = syncOnce;
    await once(dirA, homeA, ['--workspace', 'rebuild']);
    const big = randomBytes(2 * 1024 * 1024).toString('base64');
    await writeFile(join(dirA, 'keep.txt'), big);
    await mkdir(join(dirA, 'sub'));
    await writeFile(join(dirA, 'sub', 'deep.txt'), 'deep\n');
    await writeFile(join(dirA, 'a.txt'), 'a, as first written\n');
    await writeFile(join(dirA, 'b.txt'), 'b, as first written\n');
    await writeFile(join(dirA, 'both.txt'), 'both, as first written\n');
    await once(dirA, homeA);
    await once(dirB, homeB, ['--workspace', 'rebuild']);
    // (Linking wrote the copy of the link the rebuild needs, holding no secret.)
    const linkFile = join(dirA, '.tandem', 'link.json');
    expect((await stat(linkFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(linkFile, 'utf8')).not.toMatch(/token/i);

    // A is stopped; its database is overwritten with garbage, and both sides edit meanwhile.
    await garble(dirA);
    await writeFile(join(dirA, 'a.txt'), 'a, edited on A while its state was damaged\n');
    await writeFile(join(dirA, 'new-on-a.txt'), 'made on A meanwhile\n');
    await writeFile(join(dirA, 'both.txt'), "both, A's edit\n");
    await writeFile(join(dirB, 'b.txt'), 'b, edited on B\n');
    await writeFile(join(dirB, 'both.txt'), "both, B's edit\n");
    await once(dirB, homeB);
    const before = await hubStats(hub.url, homeA);

    const agentA = background(['sync', dirA], { home: homeA });
    const agentB = background(['sync', dirB], { home: homeB });
    const line = await waitFor(
      () => /^tandem: .*state\.db was damaged \(.+\); moved it to .+$/m.exec(agentA.output())?.[0],
      { what: () => `A to rebuild its state (output: ${agentA.output()})` },
    );
    expect(line).toMatch(/rebuilt it from this folder and the hub/);
    expect(agentA.output()).not.toMatch(/please report this|unexpected error/);
    const tree = await waitForSameTree(dirA, dirB, 30_000);
    await agentA.stop();
    await agentB.stop();

    const files = await texts(dirB);
    const copies = [...files.keys()].filter((p) => CONFLICT.test(p));
    const copyOf = (path: string) =>
      copies.filter((p) => p.replace(CONFLICT, '') === path).map((p) => files.get(p));
    // Nothing lost: every version written is somewhere in the folder, on both devices.
    for (const text of [
      'a, edited on A while its state was damaged\n',
      'made on A meanwhile\n',
      "both, A's edit\n",
      "both, B's edit\n",
      'b, edited on B\n',
    ])
      expect([...files.values()], text).toContain(text);
    // The hub's version keeps its path; a version of A's that differs is a conflicted copy.
    expect(files.get('a.txt')).toBe('a, as first written\n');
    expect(copyOf('a.txt')).toEqual(['a, edited on A while its state was damaged\n']);
    expect(files.get('both.txt')).toBe("both, B's edit\n");
    expect(copyOf('both.txt')).toEqual(["both, A's edit\n"]);
    expect(files.get('b.txt')).toBe('b, edited on B\n');
    expect(files.get('new-on-a.txt')).toBe('made on A meanwhile\n');
    // What did not change is agreed on as it is: no copy, and not sent again.
    expect(files.get('keep.txt')).toBe(big);
    expect(files.get('sub/deep.txt')).toBe('deep\n');
    expect(copyOf('keep.txt')).toEqual([]);
    expect(copyOf('sub/deep.txt')).toEqual([]);
    expect(copyOf('new-on-a.txt')).toEqual([]);
    const after = await hubStats(hub.url, homeA);
    expect(after.chunkBytesIn - before.chunkBytesIn).toBeLessThan(64 * 1024);
    expect(tree.size).toBe(files.size + 1); // (and the folder sub)

    // The damaged database was moved aside, not deleted; the new one is sound.
    const kept = (await readdir(join(dirA, '.tandem'))).filter((n) =>
      /^state\.db\.damaged-\d{8}T\d{6}Z$/.test(n),
    );
    expect(kept).toHaveLength(1);
    const status = await tandem(['status', dirA], { home: homeA });
    expect(status.code, status.stderr).toBe(0);
  });

  it('is told by status, and a missing link.json says what to do', async () => {
    const hub = await startHub();
    const { homeA } = await twoDevices(hub, 'eve', 'told');
    const dir = join(await tempDir(), 'A');
    const first = await tandem(['sync', dir, '--workspace', 'told', '--once'], { home: homeA });
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(dir, 'kept.txt'), 'kept\n');

    // A folder linked by the release before link.json gets one on its next start.
    await rm(join(dir, '.tandem', 'link.json'));
    const again = await tandem(['sync', dir, '--once'], { home: homeA });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(dir, '.tandem', 'link.json'), 'utf8'))).toMatchObject({
      workspaceName: 'told',
    });

    await garble(dir);
    const human = await tandem(['status', dir], { home: homeA });
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(
      /^tandem: .*state\.db is damaged \(.+\): the next `tandem sync .+` moves it aside and rebuilds it from this folder and the hub/,
    );
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    const json = await tandem(['status', dir, '--json'], { home: homeA });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { message: expect.any(String) } });
    const explain = await tandem(['explain', join(dir, 'kept.txt')], { home: homeA });
    expect(explain.stderr).toMatch(/^tandem: .*state\.db is damaged/);

    // Without link.json too, the error says what to do, and doing it rebuilds.
    await rm(join(dir, '.tandem', 'link.json'));
    const lost = await tandem(['sync', dir, '--once'], { home: homeA });
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(
      /^tandem: .*state\.db is damaged .*link\.json.* is missing too: run `tandem sync .* --workspace NAME`/,
    );
    expect(lost.stderr).not.toMatch(/please report this/);
    const rebuilt = await tandem(['sync', dir, '--workspace', 'told', '--once'], { home: homeA });
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toMatch(/^tandem: .*state\.db was damaged/m);
    expect(await readFile(join(dir, 'kept.txt'), 'utf8')).toBe('kept\n');
    expect((await tandem(['status', dir], { home: homeA })).code).toBe(0);
  });

  it('damaged under a running agent, is found on its next start', async () => {
    const hub = await startHub();
    const { homeA } = await twoDevices(hub, 'fay', 'running');
    const dir = join(await tempDir(), 'A');
    const first = await tandem(['sync', dir, '--workspace', 'running', '--once'], { home: homeA });
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(dir, 'before.txt'), 'synced before\n');
    const agent = background(['sync', dir], { home: homeA });
    await waitFor(() => /up to date \(seq 1\)/.test(agent.output()), {
      what: () => `the agent to settle (output: ${agent.output()})`,
    });
    // Overwritten in place, under the open database, as a failing disk would. (SQLite reads
    // it again only for what its cache and WAL lack: the agent may not notice before it
    // stops; if it does, it stops and says so, see the runner's tests.)
    const handle = await open(join(dir, '.tandem', 'state.db'), 'r+');
    await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, 0);
    await handle.close();
    await writeFile(join(dir, 'during.txt'), 'written while the state was damaged\n');
    await waitFor(() => /sent during\.txt|damaged/.test(agent.output()), {
      what: () => `the agent to act (output: ${agent.output()})`,
    });
    await agent.stop();
    expect(agent.output()).not.toMatch(/please report this|unexpected error/);
    const again = await tandem(['sync', dir, '--once'], { home: homeA });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^tandem: .*state\.db was (damaged \(.+\); moved it|missing)/m);
    expect(again.stderr).not.toMatch(/conflict/);
    expect(await readFile(join(dir, 'during.txt'), 'utf8')).toBe(
      'written while the state was damaged\n',
    );
    expect((await treeOf(dir)).size).toBe(2);
  });
});

/**
 * Real hub, real agents (`tandem sync`) as processes on temporary folders: every kind of
 * change propagates both ways, new devices get the whole tree, offline edits reconcile, and
 * simultaneous edits keep both versions.
 */
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hubStats,
  startHub,
  stopAll,
  tandem,
  treeOf,
  waitFor,
  waitForSameTree,
  type Background,
  type Hub,
  twoAgents,
} from '../helpers/processes.js';

describe('two devices stay identical', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let dirA: string;
  let dirB: string;
  let agentA: Background;
  let agentB: Background;

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB, dirA, dirB, agentA, agentB } = await twoAgents(hub, 'alice', 'team', [
      'laptop',
      'desktop',
    ]));
  });

  afterAll(async () => {
    const codes = await Promise.all([agentA.stop(), agentB.stop()]);
    await hub.stop();
    await stopAll();
    expect(codes, `${agentA.output()}\n${agentB.output()}`).toEqual([0, 0]); // Ctrl-C is a clean shutdown
  });

  it('propagates a new file with its bytes, mode and mtime, A to B', async () => {
    await writeFile(join(dirA, 'hello.txt'), 'hello from A\n');
    await writeFile(join(dirA, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(dirA, 'run.sh'), 0o755);
    await utimes(
      join(dirA, 'hello.txt'),
      new Date('2020-01-02T03:04:05Z'),
      new Date('2020-01-02T03:04:05Z'),
    );
    const tree = await waitForSameTree(dirA, dirB);
    expect(tree.get('run.sh')?.executable).toBe(true);
    expect(tree.get('hello.txt')?.mtimeMs).toBe(Date.parse('2020-01-02T03:04:05Z'));
  });

  it('propagates folders, empty folders and nested files, B to A', async () => {
    await mkdir(join(dirB, 'projects/alpha/src'), { recursive: true });
    await mkdir(join(dirB, 'empty/inner'), { recursive: true });
    await writeFile(join(dirB, 'projects/alpha/src/main.c'), 'int main(void) { return 0; }\n');
    const tree = await waitForSameTree(dirA, dirB);
    expect(tree.get('empty/inner')?.kind).toBe('dir');
  });

  it('propagates modifications both ways', async () => {
    await writeFile(join(dirA, 'hello.txt'), 'hello again from A\n');
    await waitFor(
      async () => (await readFile(join(dirB, 'hello.txt'), 'utf8')) === 'hello again from A\n',
    );
    await writeFile(join(dirB, 'projects/alpha/src/main.c'), 'int main(void) { return 1; }\n');
    await waitFor(async () =>
      (await readFile(join(dirA, 'projects/alpha/src/main.c'), 'utf8')).includes('return 1'),
    );
    await waitForSameTree(dirA, dirB);
  });

  it('propagates the executable bit alone', async () => {
    await chmod(join(dirB, 'run.sh'), 0o644);
    await waitFor(async () => ((await lstat(join(dirA, 'run.sh'))).mode & 0o111) === 0);
    await waitForSameTree(dirA, dirB);
  });

  it('renames a file and moves a whole folder as one move, both ways', async () => {
    await rename(join(dirA, 'hello.txt'), join(dirA, 'greeting.txt'));
    await waitFor(
      async () =>
        (await readdir(dirB)).includes('greeting.txt') &&
        !(await readdir(dirB)).includes('hello.txt'),
    );
    await mkdir(join(dirB, 'archive'));
    await rename(join(dirB, 'projects'), join(dirB, 'archive/projects-2026'));
    await waitForSameTree(dirA, dirB);
    expect((await treeOf(dirA)).get('archive/projects-2026/alpha/src/main.c')?.kind).toBe('file');
    // The folder move is one journal row on the hub: check the history of its new path.
    const explain = await tandem(['explain', join(dirB, 'archive/projects-2026'), '--json'], {
      home: homeB,
    });
    expect(JSON.parse(explain.stdout).decisions.map((d: { action: string }) => d.action)).toContain(
      'sent rename',
    );
  });

  it('propagates deletions of files and whole folders both ways', async () => {
    await rm(join(dirA, 'greeting.txt'));
    await rm(join(dirB, 'archive'), { recursive: true });
    await waitForSameTree(dirA, dirB);
    const tree = await treeOf(dirA);
    expect(tree.has('greeting.txt')).toBe(false);
    expect(tree.has('archive')).toBe(false);
  });

  it('syncs symbolic links as links, without following them', async () => {
    await symlink('run.sh', join(dirA, 'link-to-run'));
    await symlink('/definitely/not/here', join(dirA, 'dangling'));
    const tree = await waitForSameTree(dirA, dirB);
    expect(tree.get('link-to-run')).toEqual({ kind: 'symlink', target: 'run.sh' });
    expect(tree.get('dangling')).toEqual({ kind: 'symlink', target: '/definitely/not/here' });
  });

  it('ignores editor temp files and what .tandemignore lists', async () => {
    await writeFile(join(dirA, '.tandemignore'), 'build/\n*.log\n');
    await waitFor(async () => (await readdir(dirB)).includes('.tandemignore'));
    await writeFile(join(dirA, '.notes.txt.swp'), 'vim swap');
    await writeFile(join(dirA, 'debug.log'), 'noise');
    await mkdir(join(dirA, 'build'));
    await writeFile(join(dirA, 'build/out.o'), 'object');
    await writeFile(join(dirA, 'kept.txt'), 'kept');
    await waitFor(async () => (await readdir(dirB)).includes('kept.txt'));
    const names = await readdir(dirB);
    expect(names).not.toContain('.notes.txt.swp');
    expect(names).not.toContain('debug.log');
    expect(names).not.toContain('build');
    await rm(join(dirA, '.notes.txt.swp'));
    await rm(join(dirA, 'debug.log'));
    await rm(join(dirA, 'build'), { recursive: true });
  });

  it('reports status as JSON', async () => {
    await waitForSameTree(dirA, dirB);
    const status = await waitFor(async () => {
      const result = await tandem(['status', dirA, '--json'], { home: homeA });
      const parsed = JSON.parse(result.stdout);
      return parsed.cursor === parsed.head && parsed.pending.upload === 0 ? parsed : undefined;
    });
    expect(status.workspace.name).toBe('team');
    expect(status.hub).toBe(hub.url);
  });

  it('sends and fetches only the changed part of a large file, rebuilding the rest locally', async () => {
    const MiB = 1024 * 1024;
    const stats = () => hubStats(hub.url, homeB);
    const sameBytes = (path: string, bytes: Buffer) => async () =>
      (await readFile(path).catch(() => undefined))?.equals(bytes) === true;
    const original = randomBytes(24 * MiB);
    await writeFile(join(dirA, 'big.bin'), original);
    await waitFor(sameBytes(join(dirB, 'big.bin'), original), { what: () => 'big.bin on B' });
    // (And recorded there: the bytes are in place a moment before B's state knows their
    // chunks, and an edit announced within that moment would be fetched whole.)
    await waitFor(() => agentB.output().includes('received big.bin'), {
      what: () => `B to record big.bin\n${agentB.output()}`,
    });
    const before = await stats();
    // 1 MiB overwritten in the middle, 100 bytes inserted earlier (shifting what follows), and
    // the last 4 MiB moved to the front: B must rebuild every unchanged chunk from its own
    // copy, at its new place.
    const edited = Buffer.from(original);
    randomBytes(MiB).copy(edited, 12 * MiB);
    const next = Buffer.concat([
      edited.subarray(20 * MiB),
      edited.subarray(0, 5 * MiB),
      randomBytes(100),
      edited.subarray(5 * MiB, 20 * MiB),
    ]);
    await writeFile(join(dirA, 'big.bin'), next);
    await waitFor(sameBytes(join(dirB, 'big.bin'), next), { what: () => 'the edit on B' });
    const after = await stats();
    expect(after.chunkBytesIn - before.chunkBytesIn).toBeLessThan(5 * MiB);
    expect(after.chunkBytesOut - before.chunkBytesOut).toBeLessThan(5 * MiB);
  });
});

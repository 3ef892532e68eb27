/**
 * Permission bits travel (issue 18), with a real hub and real agents: a file and folder
 * arrive with exactly the mode they have where they were made, whatever the umask of the
 * agent that writes them (A runs with umask 000, which would widen anything left to it, B
 * with 077, which would narrow it), and a chmod alone is a change that is sent.
 */
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
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

const modeOf = async (path: string) => (await lstat(path)).mode & 0o777;
const octal = (mode: number | undefined) => (mode === undefined ? 'absent' : mode.toString(8));

describe('modes of files and folders reach the other device exactly', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let A: string;
  let B: string;
  let agentA: Background | undefined;
  let agentB: Background | undefined;

  const startA = () =>
    background(['sync', A, '--workspace', 'keys'], { home: homeA, umask: '000' });
  const startB = () =>
    background(['sync', B, '--workspace', 'keys'], { home: homeB, umask: '077' });
  const upToDate = (agent: Background) =>
    waitFor(() => agent.output().includes('up to date'), {
      timeoutMs: 30_000,
      what: () => `the agent to be up to date (output: ${agent.output()})`,
    });
  const stop = async (agent: Background | undefined) => {
    if (agent) expect(await agent.stop()).toBe(0);
  };
  /** Waits until `path` has `mode` in `root`. */
  const hasMode = async (root: string, path: string, mode: number) => {
    let seen: number | undefined;
    await waitFor(
      async () => (seen = await modeOf(join(root, path)).catch(() => undefined)) === mode,
      {
        timeoutMs: 30_000,
        what: () =>
          `${path} to be ${octal(mode)} in ${root === A ? 'A' : 'B'} (it is ${octal(seen)}; A: ${
            agentA?.output() ?? ''
          }\nB: ${agentB?.output() ?? ''})`,
      },
    );
  };

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'mina', 'keys', ['laptop', 'desktop']));
    const root = await tempDir();
    A = join(root, 'A');
    B = join(root, 'B');
    agentA = startA();
    agentB = startB();
    await Promise.all([upToDate(agentA), upToDate(agentB)]);
  }, 60_000);
  afterAll(async () => {
    await stop(agentA);
    await stop(agentB);
    await stopAll();
  });

  it('(a) a 600 file in a 700 folder arrives as 600 in 700, and other modes exactly', async () => {
    await mkdir(join(A, 'ssh'));
    await chmod(join(A, 'ssh'), 0o700);
    await writeFile(join(A, 'ssh/id_ed25519'), 'private key\n');
    await chmod(join(A, 'ssh/id_ed25519'), 0o600);
    await mkdir(join(A, 'shared'));
    await chmod(join(A, 'shared'), 0o775);
    await writeFile(join(A, 'shared/notes.txt'), 'for the group\n');
    await chmod(join(A, 'shared/notes.txt'), 0o664);
    await writeFile(join(A, 'shared/run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(A, 'shared/run.sh'), 0o750);

    await waitForSameTree(A, B, 30_000);
    for (const [path, mode] of [
      ['ssh', 0o700],
      ['ssh/id_ed25519', 0o600],
      ['shared', 0o775],
      ['shared/notes.txt', 0o664],
      ['shared/run.sh', 0o750],
    ] as const)
      await hasMode(B, path, mode);
    expect(await readFile(join(B, 'ssh/id_ed25519'), 'utf8')).toBe('private key\n');
  }, 90_000);

  it('(b) a chmod alone is sent, and applied in place (same inode), both ways', async () => {
    const before = (await lstat(join(B, 'shared/notes.txt'))).ino;
    await chmod(join(A, 'shared/notes.txt'), 0o640);
    await chmod(join(A, 'shared'), 0o750);
    await hasMode(B, 'shared/notes.txt', 0o640);
    await hasMode(B, 'shared', 0o750);
    expect((await lstat(join(B, 'shared/notes.txt'))).ino).toBe(before);

    // From B, whose umask would narrow it, to A, whose umask would widen it.
    await chmod(join(B, 'shared/run.sh'), 0o755);
    await chmod(join(B, 'ssh'), 0o750);
    await hasMode(A, 'shared/run.sh', 0o755);
    await hasMode(A, 'ssh', 0o750);
    // And nothing is sent back: the modes stay as they were set.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await modeOf(join(B, 'shared/run.sh'))).toBe(0o755);
    expect(await modeOf(join(A, 'shared/notes.txt'))).toBe(0o640);
  }, 90_000);

  it('(c) a new content with a new mode travels together', async () => {
    await writeFile(join(A, 'ssh/id_ed25519'), 'a new private key\n');
    await chmod(join(A, 'ssh/id_ed25519'), 0o400);
    await waitFor(
      async () => (await readFile(join(B, 'ssh/id_ed25519'), 'utf8')) === 'a new private key\n',
      { timeoutMs: 30_000, what: () => 'the new key on B' },
    );
    await hasMode(B, 'ssh/id_ed25519', 0o400);
  }, 90_000);

  it('(d) a folder its owner may not write in arrives with what it holds, then its mode', async () => {
    await mkdir(join(A, 'archive'));
    await writeFile(join(A, 'archive/2025.txt'), 'kept as it was\n');
    await chmod(join(A, 'archive'), 0o555);
    await hasMode(B, 'archive', 0o555);
    await waitFor(
      async () =>
        (await readFile(join(B, 'archive/2025.txt'), 'utf8').catch(() => '')) ===
        'kept as it was\n',
      { timeoutMs: 30_000, what: () => 'archive/2025.txt on B' },
    );
    // (Writable again, so that the temporary folders can be removed.)
    await chmod(join(A, 'archive'), 0o755);
    await hasMode(B, 'archive', 0o755);
  }, 90_000);

  it('(e) both devices change only the mode while apart: the hub keeps the first, no conflict', async () => {
    await stop(agentA);
    await stop(agentB);
    agentA = agentB = undefined;
    await chmod(join(A, 'shared/notes.txt'), 0o600);
    await chmod(join(B, 'shared/notes.txt'), 0o660);
    // B reaches the hub first.
    agentB = startB();
    await upToDate(agentB);
    agentA = startA();
    await hasMode(A, 'shared/notes.txt', 0o660);
    const tree = await waitForSameTree(A, B, 30_000);
    expect([...tree.keys()].filter((path) => path.includes('conflicted'))).toEqual([]);
    expect(await modeOf(join(B, 'shared/notes.txt'))).toBe(0o660);
    execFileSync('sh', ['-c', `chmod -R u+w '${A}' '${B}'`]);
  }, 90_000);
});

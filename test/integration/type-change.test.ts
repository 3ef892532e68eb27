/**
 * Regression (issue 19): a folder replaced by a file or a link of the same name, within a
 * moment and while the agent runs, was taken for a conflict of the device with itself: the
 * hub refused the file's put (its folder still held the files whose deletions were being
 * held back), the agent moved the user's new file aside as a conflicted copy, and the name
 * ended up missing on every device. A type change is one ordinary change.
 */
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  stopAll,
  tempDir,
  treeOf,
  twoDevices,
  waitFor,
  waitForSameTree,
  type Background,
  type Hub,
} from '../helpers/processes.js';

describe('a path that changes type on one device', () => {
  let hub: Hub;
  let A = '';
  let B = '';
  const agents: Background[] = [];

  beforeAll(async () => {
    hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'tara', 'types');
    const root = await tempDir();
    A = join(root, 'A');
    B = join(root, 'B');
    agents.push(background(['sync', A, '--workspace', 'types'], { home: homeA }));
    agents.push(background(['sync', B, '--workspace', 'types'], { home: homeB }));
    await waitFor(() => agents.every((a) => a.output().includes('up to date')), {
      timeoutMs: 30_000,
    });
  });
  afterAll(async () => {
    for (const agent of agents) expect(await agent.stop()).toBe(0);
    await stopAll();
  });

  /** No conflicted copy anywhere, and no agent said "conflict". */
  async function expectNoConflict(): Promise<void> {
    for (const dir of [A, B]) {
      const paths = [...(await treeOf(dir)).keys()];
      expect(paths.filter((p) => p.includes('conflicted copy'))).toEqual([]);
    }
    for (const agent of agents) expect(agent.output()).not.toMatch(/conflict/);
  }

  async function folderWithFiles(name: string): Promise<void> {
    await mkdir(join(A, name, 'sub'), { recursive: true });
    for (const file of ['one.txt', 'two.txt', 'sub/three.txt'])
      await writeFile(join(A, name, file), `${name}/${file}\n`);
    await waitFor(async () => (await treeOf(B)).has(`${name}/sub/three.txt`), {
      timeoutMs: 30_000,
      what: () => `${name} to reach B`,
    });
  }

  it('a folder replaced by a file arrives as that file, and its files are gone', async () => {
    await folderWithFiles('d');
    const started = Date.now();
    await rm(join(A, 'd'), { recursive: true });
    await writeFile(join(A, 'd'), 'new\n');
    expect(Date.now() - started).toBeLessThan(300);
    const tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get('d')?.kind).toBe('file');
    expect([...tree.keys()].filter((p) => p.startsWith('d/'))).toEqual([]);
    expect(await readFile(join(B, 'd'), 'utf8')).toBe('new\n');
    await expectNoConflict();
  });

  it('a folder replaced by a symbolic link arrives as that link', async () => {
    await folderWithFiles('e');
    const started = Date.now();
    await rm(join(A, 'e'), { recursive: true });
    // (A pause, so that a round can see the folder gone before the link appears.)
    await new Promise((r) => setTimeout(r, 100));
    await symlink('d', join(A, 'e'));
    expect(Date.now() - started).toBeLessThan(300);
    const tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get('e')).toEqual({ kind: 'symlink', target: 'd' });
    expect([...tree.keys()].filter((p) => p.startsWith('e/'))).toEqual([]);
    await expectNoConflict();
  });

  it('a file replaced by a folder with files arrives as that folder', async () => {
    await writeFile(join(A, 'f'), 'a file for now\n');
    await waitFor(async () => (await treeOf(B)).get('f')?.kind === 'file', {
      timeoutMs: 30_000,
    });
    const started = Date.now();
    await rm(join(A, 'f'));
    await mkdir(join(A, 'f'));
    await writeFile(join(A, 'f', 'inside.txt'), 'inside\n');
    expect(Date.now() - started).toBeLessThan(300);
    const tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get('f')?.kind).toBe('dir');
    expect(await readFile(join(B, 'f', 'inside.txt'), 'utf8')).toBe('inside\n');
    await expectNoConflict();
  });

  it('a link replaced by a folder, and that folder by a file again', async () => {
    await rm(join(A, 'e'));
    await mkdir(join(A, 'e'));
    await writeFile(join(A, 'e', 'x.txt'), 'x\n');
    let tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get('e/x.txt')?.kind).toBe('file');
    await rm(join(A, 'e'), { recursive: true });
    await writeFile(join(A, 'e'), 'file again\n');
    tree = await waitForSameTree(A, B, 30_000);
    expect(tree.get('e')?.kind).toBe('file');
    expect(await readFile(join(B, 'e'), 'utf8')).toBe('file again\n');
    await expectNoConflict();
  });
});

/**
 * Every kind of change, made on one device and then on the other: it must arrive on the
 * other side identical (bytes, executable bit, mtime, links), whichever side made it.
 */
import { chmod, mkdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  stopAll,
  tempDir,
  waitFor,
  waitForSameTree,
  type Background,
  type Hub,
  twoDevices,
} from '../helpers/processes.js';

describe('each kind of change propagates both ways', () => {
  let hub: Hub;
  const dirs: Record<'A' | 'B', string> = { A: '', B: '' };
  const agents: Background[] = [];

  beforeAll(async () => {
    hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'hana', 'mirror', ['one', 'two']);
    const root = await tempDir();
    dirs.A = join(root, 'A');
    dirs.B = join(root, 'B');
    agents.push(background(['sync', dirs.A, '--workspace', 'mirror'], { home: homeA }));
    agents.push(background(['sync', dirs.B, '--workspace', 'mirror'], { home: homeB }));
    await waitFor(() => agents.every((a) => a.output().includes('up to date')));
  });
  afterAll(async () => {
    for (const agent of agents) expect(await agent.stop()).toBe(0);
    await stopAll();
  });

  for (const [from, to] of [
    ['A', 'B'],
    ['B', 'A'],
  ] as const) {
    describe(`made on ${from}, seen on ${to}`, () => {
      const at = (path: string) => join(dirs[from], `${from}-${path}`);
      const same = async () => waitForSameTree(dirs.A, dirs.B);

      it('creates a file with its mtime and an empty folder', async () => {
        await writeFile(at('file.txt'), `made on ${from}\n`);
        await utimes(
          at('file.txt'),
          new Date('2021-05-06T07:08:09Z'),
          new Date('2021-05-06T07:08:09Z'),
        );
        await mkdir(at('empty'));
        const tree = await same();
        expect(tree.get(`${from}-file.txt`)?.mtimeMs).toBe(Date.parse('2021-05-06T07:08:09Z'));
        expect(tree.get(`${from}-empty`)?.kind).toBe('dir');
      });

      it('modifies a file and flips its executable bit', async () => {
        await writeFile(at('file.txt'), `changed on ${from}\n`);
        await chmod(at('file.txt'), 0o755);
        expect((await same()).get(`${from}-file.txt`)?.executable).toBe(true);
      });

      it('renames a file and moves a folder with its contents', async () => {
        await rename(at('file.txt'), at('renamed.txt'));
        await mkdir(at('folder/inner'), { recursive: true });
        await writeFile(at('folder/inner/deep.txt'), 'deep');
        await same();
        await rename(at('folder'), at('empty/moved-folder'));
        const tree = await same();
        expect(tree.has(`${from}-renamed.txt`)).toBe(true);
        expect(tree.get(`${from}-empty/moved-folder/inner/deep.txt`)?.kind).toBe('file');
      });

      it('creates a symbolic link', async () => {
        await symlink(`${from}-renamed.txt`, at('link'));
        expect((await same()).get(`${from}-link`)).toEqual({
          kind: 'symlink',
          target: `${from}-renamed.txt`,
        });
      });

      it('deletes a file, a link and a folder tree', async () => {
        await rm(at('renamed.txt'));
        await rm(at('link'));
        await rm(at('empty'), { recursive: true });
        const tree = await same();
        expect([...tree.keys()].filter((p) => p.startsWith(`${from}-`))).toEqual([]);
      });
    });
  }
});

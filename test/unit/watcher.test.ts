/** Direct watches of recently active folders (real filesystem, real inotify). */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HotFolders } from '../../src/fs/watcher.js';
import { waitFor } from '../helpers/processes.js';

describe('HotFolders', () => {
  let dir: string;
  let hot: HotFolders;
  let reported: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-hot-'));
    reported = [];
    hot = new HotFolders((paths) => reported.push(...paths));
  });
  afterEach(async () => {
    hot.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a change in a hot folder by its path', async () => {
    hot.add(dir);
    await writeFile(join(dir, 'note.txt'), 'hello');
    await waitFor(() => reported.includes(join(dir, 'note.txt')), { what: () => 'the event' });
    expect(hot.folders).toEqual([dir]);
  });

  it('keeps only the most recently active folders', async () => {
    const folders = Array.from({ length: 11 }, (_, i) => join(dir, `d${i}`));
    for (const folder of folders) await mkdir(folder);
    for (const folder of folders.slice(0, 10)) hot.add(folder);
    expect(hot.folders).toEqual(folders.slice(2, 10));
    hot.add(folders[2]!); // active again: now the most recent
    hot.add(folders[10]!);
    expect(hot.folders).toEqual([...folders.slice(4, 10), folders[2], folders[10]]);
  });

  it('gives a folder back to the tree watch when it gets busy', async () => {
    hot.add(dir);
    for (let i = 0; i < 100; i++) await writeFile(join(dir, `f${i}`), 'x');
    await waitFor(() => hot.folders.length === 0, { what: () => 'the busy folder to be dropped' });
    const count = reported.length;
    await writeFile(join(dir, 'after.txt'), 'y');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reported.length).toBe(count);
  });
});

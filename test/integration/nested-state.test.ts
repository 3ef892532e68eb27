/**
 * An agent's state is never synced, wherever it lies: a `.tandem` folder below the top (a
 * synced folder copied or moved inside another) stays on its device, with both agents
 * running, while the files around it travel.
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  stopAll,
  tempDir,
  twoDevices,
  waitFor,
} from '../helpers/processes.js';

describe('a .tandem folder at any depth', () => {
  afterAll(stopAll);

  it('never reaches the hub or the other device', async () => {
    const hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'nora', 'nested');
    const root = await tempDir();
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    const agentA = background(['sync', dirA, '--workspace', 'nested'], { home: homeA });
    const agentB = background(['sync', dirB, '--workspace', 'nested'], { home: homeB });
    await waitFor(
      () => agentA.output().includes('up to date') && agentB.output().includes('up to date'),
      { what: () => 'both agents to start' },
    );
    // What a linked folder copied inside this one brings along.
    await mkdir(join(dirA, 'copied/.tandem/tmp'), { recursive: true });
    await writeFile(join(dirA, 'copied/.tandem/state.db'), 'another agent state');
    await writeFile(join(dirA, 'copied/.tandem/lock'), '12345');
    await writeFile(join(dirA, 'copied/.tandem/tmp/partial'), 'half a download');
    await writeFile(join(dirA, 'copied/notes.txt'), 'the files around it travel');
    await mkdir(join(dirA, 'deep/er/.tandem'), { recursive: true });
    await writeFile(join(dirA, 'deep/er/.tandem/state.db'), 'deeper');
    await writeFile(join(dirA, 'deep/er/kept.txt'), 'kept');

    await waitFor(
      async () =>
        (await readFile(join(dirB, 'copied/notes.txt'), 'utf8').catch(() => '')) ===
          'the files around it travel' &&
        (await readFile(join(dirB, 'deep/er/kept.txt'), 'utf8').catch(() => '')) === 'kept',
      { what: () => `the files to arrive on B (${agentA.output()})` },
    );
    await expect(stat(join(dirB, 'copied/.tandem'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(dirB, 'deep/er/.tandem'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(dirB, 'copied'))).toEqual(['notes.txt']);

    // The hub holds no path with a .tandem segment.
    const { token } = JSON.parse(await readFile(join(homeA, 'config.json'), 'utf8')) as {
      token: string;
    };
    const headers = { authorization: `Bearer ${token}` };
    const workspaces = (await (
      await fetch(`${hub.url}/api/v1/workspaces`, { headers })
    ).json()) as {
      workspaces: { id: string }[];
    };
    const feed = (await (
      await fetch(`${hub.url}/api/v1/workspaces/${workspaces.workspaces[0]!.id}/changes?since=0`, {
        headers,
      })
    ).json()) as { snapshot: { path: string }[] };
    const paths = feed.snapshot.map((r) => r.path);
    expect(paths).toContain('copied/notes.txt');
    expect(paths.filter((p) => p.split('/').includes('.tandem'))).toEqual([]);
    // And neither agent reported the state folders as names it could not sync.
    expect(agentA.output()).not.toMatch(/\.tandem.*cannot be synced/);
    expect(await Promise.all([agentA.stop(), agentB.stop()])).toEqual([0, 0]);
  });
});

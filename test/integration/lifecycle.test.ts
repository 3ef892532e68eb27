/**
 * Devices that come and go: a new device receives the whole tree, edits made while an agent
 * was stopped are reconciled when it starts, simultaneous edits keep both versions, files
 * still being written are not uploaded half-done, and a vanished `.tandem` stops the agent.
 */
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, HubClient } from '../../src/agent/hub-client.js';
import {
  account,
  background,
  startHub,
  stopAll,
  tandem,
  tempDir,
  treeOf,
  waitFor,
  waitForSameTree,
  type Hub,
  twoDevices,
} from '../helpers/processes.js';

describe('devices that come and go', () => {
  let hub: Hub;
  let homeA: string;
  let homeB: string;
  let root: string;
  let dirA: string;
  let dirB: string;

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, homeB } = await twoDevices(hub, 'frank', 'life', ['laptop', 'desktop']));
    root = await tempDir();
    dirA = join(root, 'A');
    dirB = join(root, 'B');
    expect(
      (await tandem(['sync', dirA, '--workspace', 'life', '--once'], { home: homeA })).code,
    ).toBe(0);
    expect(
      (await tandem(['sync', dirB, '--workspace', 'life', '--once'], { home: homeB })).code,
    ).toBe(0);
  });
  afterAll(stopAll);

  it('gives a new device the whole tree', async () => {
    for (let i = 0; i < 30; i++) {
      const dir = join(dirA, `folder-${i % 5}`, `sub-${i % 3}`);
      await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
      await writeFile(join(dir, `file-${i}.txt`), `content ${i}\n`.repeat(i + 1));
    }
    await (await import('node:fs/promises')).mkdir(join(dirA, 'empty-folder'));
    expect((await tandem(['sync', dirA, '--once'], { home: homeA })).code).toBe(0);
    const homeC = await account(hub.url, 'frank', { register: false, device: 'tablet' });
    const dirC = join(root, 'C');
    const result = await tandem(['sync', dirC, '--workspace', 'life', '--once'], { home: homeC });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.stringify([...(await treeOf(dirC))])).toBe(
      JSON.stringify([...(await treeOf(dirA))]),
    );
    expect((await treeOf(dirC)).size).toBeGreaterThan(45);
  });

  it('reconciles edits made on both sides while an agent was stopped', async () => {
    await tandem(['sync', dirB, '--once'], { home: homeB });
    // B is "off"; both sides change different things.
    await writeFile(join(dirA, 'folder-0/sub-0/file-0.txt'), 'changed on A while B was off\n');
    await rm(join(dirA, 'folder-1'), { recursive: true });
    await writeFile(join(dirB, 'written-on-b-offline.txt'), 'from B\n');
    await rm(join(dirB, 'folder-2/sub-2/file-2.txt'));
    const agentA = background(['sync', dirA], { home: homeA });
    await waitFor(() => agentA.output().includes('up to date'));
    const agentB = background(['sync', dirB], { home: homeB });
    const tree = await waitForSameTree(dirA, dirB);
    expect(tree.has('folder-1')).toBe(false);
    expect(tree.has('folder-2/sub-2/file-2.txt')).toBe(false);
    expect(tree.has('written-on-b-offline.txt')).toBe(true);
    expect(await readFile(join(dirB, 'folder-0/sub-0/file-0.txt'), 'utf8')).toBe(
      'changed on A while B was off\n',
    );
    expect(await agentA.stop()).toBe(0);
    expect(await agentB.stop()).toBe(0);
  });

  it('keeps both versions when two devices edit one file at the same time', async () => {
    await tandem(['sync', dirA, '--once'], { home: homeA });
    await tandem(['sync', dirB, '--once'], { home: homeB });
    await writeFile(join(dirA, 'shared.md'), 'base\n');
    await tandem(['sync', dirA, '--once'], { home: homeA });
    await tandem(['sync', dirB, '--once'], { home: homeB });
    const agentA = background(['sync', dirA], { home: homeA });
    const agentB = background(['sync', dirB], { home: homeB });
    await waitFor(
      () => agentA.output().includes('up to date') && agentB.output().includes('up to date'),
    );
    await Promise.all([
      writeFile(join(dirA, 'shared.md'), 'edit from the laptop\n'),
      writeFile(join(dirB, 'shared.md'), 'edit from the desktop\n'),
    ]);
    const tree = await waitForSameTree(dirA, dirB);
    const contents = await Promise.all(
      [...tree.keys()]
        .filter((p) => p.startsWith('shared'))
        .map((p) => readFile(join(dirA, p), 'utf8')),
    );
    expect(contents.sort()).toEqual(['edit from the desktop\n', 'edit from the laptop\n']);
    expect(
      [...tree.keys()].some((p) =>
        /^shared \(conflicted copy \d{4}-\d{2}-\d{2} \d{6} from (laptop|desktop)\)\.md$/.test(p),
      ),
    ).toBe(true);
    await agentA.stop();
    await agentB.stop();
  });

  it('does not upload a file while it is still being written', async () => {
    const agentA = background(['sync', dirA], { home: homeA });
    await waitFor(() => agentA.output().includes('up to date'));
    const file = join(dirA, 'recording.raw');
    const handle = await open(file, 'w');
    // Appends with short pauses, as a recording or a download does: between two appends the
    // file is briefly still, but it is not finished.
    // Each append's resulting size, and how long the file then stayed as it was (from its
    // mtime to the next append's): under load a pause (an fsync) can outlast the agent's quiet
    // time, and then that version may rightly be committed.
    const appends: { size: number; quietMs: number }[] = [];
    const until = Date.now() + 1500;
    let last = 0;
    for (let i = 0; Date.now() < until; i++) {
      await handle.write(Buffer.alloc(16 * 1024, i % 251));
      const { mtimeMs } = await handle.stat();
      if (appends.length > 0) appends[appends.length - 1]!.quietMs = mtimeMs - last;
      last = mtimeMs;
      await handle.sync();
      appends.push({ size: (i + 1) * 16 * 1024, quietMs: Infinity });
      await new Promise((r) => setTimeout(r, 8));
    }
    await handle.close();
    const final = await readFile(file);
    const config = JSON.parse(await readFile(join(homeA, 'config.json'), 'utf8'));
    const client = new HubClient(new HttpTransport(hub.url), config.token);
    const workspace = (await client.listWorkspaces()).find((w) => w.name === 'life')!;
    const rows = await waitFor(async () => {
      const { rows } = await client.history(workspace.id, 'recording.raw');
      return rows.length > 0 &&
        rows[0]!.entry?.kind === 'file' &&
        rows[0]!.entry.size === final.length
        ? rows
        : undefined;
    });
    // The finished file was committed, and an unfinished version only if the file had been
    // still for the agent's quiet time (QUIET_MS = 25 ms, less a few ms of clock slack).
    for (const row of rows.slice(1)) {
      const size = row.entry?.kind === 'file' ? row.entry.size : -1;
      const append = appends.find((a) => a.size === size);
      expect(append, `an unfinished version of ${size} bytes was committed`).toBeDefined();
      expect(append!.quietMs).toBeGreaterThanOrEqual(20);
    }
    expect(await agentA.stop()).toBe(0);
  });

  it('stops, without propagating deletions, when .tandem disappears', async () => {
    const agentB = background(['sync', dirB], { home: homeB });
    await waitFor(() => agentB.output().includes('up to date'));
    const before = (await readdir(dirA)).sort();
    await rm(join(dirB, '.tandem'), { recursive: true });
    for (const name of await readdir(dirB)) await rm(join(dirB, name), { recursive: true });
    const code = await agentB.exited;
    expect(code).not.toBe(0);
    expect(agentB.output()).toMatch(/disappeared/);
    expect(agentB.output()).not.toMatch(/at .*\.js:\d+/); // no stack trace
    await tandem(['sync', dirA, '--once'], { home: homeA });
    expect((await readdir(dirA)).sort()).toEqual(before);
  });
});

/**
 * The README's walkthrough, as a new user would run it: the commands are read from README.md
 * itself (so the README cannot drift from what works), with the hub's address and the home
 * folders pointed at temporary places. A file saved in one folder must appear, byte-identical,
 * in the other within 2 seconds.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  startHub,
  stopAll,
  tempDir,
  waitFor,
  type Background,
  type Hub,
} from '../helpers/processes.js';
import { followReadme, readmeCommands } from '../helpers/readme.js';

/** README commands with the hub's address and the home folders at the test's places. */
const expandFor =
  (hub: Hub, home: string) =>
  (word: string): string =>
    word.replace(/^~\//, `${home}/`).replace('http://127.0.0.1:8080', hub.url);

/** Writes `name` in `from` and waits (up to 2 s) for the same bytes in each of `to`. */
async function travels(name: string, bytes: Buffer, from: string, to: readonly string[]) {
  await writeFile(join(from, name), bytes);
  for (const folder of to)
    await waitFor(async () => (await readFile(join(folder, name))).equals(bytes), {
      timeoutMs: 2_000,
      intervalMs: 5,
      what: () => `${name} to reach ${folder}`,
    });
}

describe('the README walkthrough', () => {
  const agents: Background[] = [];
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await stopAll();
  });

  it('connects two devices; a saved file appears on the other within 2 seconds', async () => {
    const commands = await readmeCommands('Walkthrough: two devices');
    expect(commands).toContain('npm install && npm start');
    const hub = await startHub(); // `npm start`, on a free port instead of 8080
    const { folders } = await followReadme(
      commands,
      expandFor(hub, await tempDir('tandem-readme-')),
      agents,
    );
    expect(folders).toHaveLength(2);

    const bytes = randomBytes(256 * 1024);
    const started = Date.now();
    await writeFile(join(folders[0]!, 'report.pdf'), bytes);
    await waitFor(async () => (await readFile(join(folders[1]!, 'report.pdf'))).equals(bytes), {
      timeoutMs: 2_000,
      intervalMs: 5,
    });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(2_000);

    const back = Buffer.from('and back again\n');
    await writeFile(join(folders[1]!, 'reply.txt'), back);
    await waitFor(async () => (await readFile(join(folders[0]!, 'reply.txt'))).equals(back), {
      timeoutMs: 2_000,
      intervalMs: 5,
    });
  });

  it("two people share a workspace: both see each other's edits; the admin sets a quota and sees usage", async () => {
    const hub = await startHub();
    const devices = await readmeCommands('Walkthrough: two devices');
    const people = await readmeCommands('Walkthrough: two people');
    const { folders, printed } = await followReadme(
      [...devices, ...people],
      expandFor(hub, await tempDir('tandem-readme-')),
      agents,
    );
    expect(folders).toHaveLength(3); // alice's laptop and desktop, bob's laptop
    const [laptop, desktop, bobs] = folders as [string, string, string];
    expect(printed.get('tandem workspace members notes')).toMatch(/bob\s+editor/);
    expect(printed.get('tandem workspace list')).toMatch(/notes\s+editor\s+alice/);

    await travels('from-alice.txt', Buffer.from('minutes of the meeting\n'), laptop, [
      desktop,
      bobs,
    ]);
    await travels('from-bob.txt', randomBytes(64 * 1024), bobs, [laptop, desktop]);

    const users = printed.get('tandem admin users')!;
    expect(users).toMatch(/^bob\s+no\s+active\s+1\s+0 B\s+1 GiB$/m);
    expect(users).toMatch(/^alice\s+yes\s+active\s+2\s+\S+ \S+\s+none$/m);
  });

  it('links only to files inside the repository, and every one resolves', async () => {
    const docs = ['README.md', 'docs/architecture.md', 'docs/decisions.md', 'docs/security.md'];
    const broken: string[] = [];
    let links = 0;
    for (const doc of docs) {
      const file = resolve(import.meta.dirname, '../..', doc);
      const text = await readFile(file, 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target!)) continue;
        links++;
        const path = resolve(dirname(file), target!.split('#')[0]!);
        const inside = path.startsWith(resolve(import.meta.dirname, '../..') + '/');
        if (
          !inside ||
          !(await access(path).then(
            () => true,
            () => false,
          ))
        )
          broken.push(`${doc}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
    expect(links).toBeGreaterThan(0);
  });
});

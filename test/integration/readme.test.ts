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
  background,
  startHub,
  stopAll,
  tandem,
  tempDir,
  waitFor,
  type Background,
} from '../helpers/processes.js';

const README = resolve(import.meta.dirname, '../../README.md');

/** The shell lines of the walkthrough section, in order. */
async function walkthroughCommands(): Promise<string[]> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf('## Walkthrough');
  const section = text.slice(start, text.indexOf('\n## ', start));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((block) => block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()))
    .filter(Boolean);
}

describe('the README walkthrough', () => {
  const agents: Background[] = [];
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await stopAll();
  });

  it('connects two devices; a saved file appears on the other within 2 seconds', async () => {
    const commands = await walkthroughCommands();
    expect(commands).toContain('npm install && npm start');
    const hub = await startHub(); // `npm start`, on a free port instead of 8080
    const home = await tempDir('tandem-readme-');
    const expand = (word: string) =>
      word.replace(/^~\//, `${home}/`).replace('http://127.0.0.1:8080', hub.url);
    let tandemHome = '';
    const folders: string[] = [];

    for (const line of commands) {
      if (line.startsWith('npm ')) continue; // installing and starting the hub: done above
      const exported = /^export TANDEM_HOME=(\S+)$/.exec(line);
      if (exported) {
        tandemHome = expand(exported[1]!);
        continue;
      }
      const piped = /^echo '([^']*)' \| tandem (.*)$/.exec(line);
      const plain = /^tandem (.*)$/.exec(line);
      const args = (piped?.[2] ?? plain?.[1])?.split(/\s+/).map(expand);
      expect(args, `a walkthrough line the test does not understand: ${line}`).toBeDefined();
      if (args![0] === 'sync') {
        folders.push(args![1]!);
        const agent = background(args!, { home: tandemHome });
        agents.push(agent);
        await waitFor(() => agent.output().includes('up to date'), {
          what: () => `the agent to start: ${agent.output()}`,
        });
        continue;
      }
      const result = await tandem(args!, {
        home: tandemHome,
        ...(piped ? { input: `${piped[1]}\n` } : {}),
      });
      expect(result.code, `${line}\n${result.stderr}`).toBe(0);
    }
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

/**
 * Following the README as a person would: the shell lines of one of its sections, run in
 * order against a test hub (`export TANDEM_HOME=...` switches device, `tandem sync` starts an
 * agent left running, every other command must succeed).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { background, tandem, waitFor, type Background } from './processes.js';

const README = resolve(import.meta.dirname, '../../README.md');

/** The shell lines of the README section whose heading begins `heading`, in order. */
export async function readmeCommands(heading: string): Promise<string[]> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf(`## ${heading}`);
  expect(start, `a README section "${heading}"`).toBeGreaterThanOrEqual(0);
  const section = text.slice(start, text.indexOf('\n## ', start));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((block) => block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()))
    .filter(Boolean);
}

export interface Followed {
  /** The folders `tandem sync` lines linked, in order (each kept in sync by an agent). */
  folders: string[];
  /** What each command that is not `tandem sync` printed, by its line. */
  printed: Map<string, string>;
}

/**
 * Runs README lines; `expand` points each word at the test's places (home folders, the hub's
 * address). Lines starting `npm ` (installing, starting the hub) are the caller's to do.
 * Agents started are pushed to `agents`, for the caller to stop.
 */
export async function followReadme(
  commands: readonly string[],
  expand: (word: string) => string,
  agents: Background[],
): Promise<Followed> {
  let tandemHome = '';
  const folders: string[] = [];
  const printed = new Map<string, string>();
  for (const line of commands) {
    if (line.startsWith('npm ')) continue;
    const exported = /^export TANDEM_HOME=(\S+)$/.exec(line);
    if (exported) {
      tandemHome = expand(exported[1]!);
      continue;
    }
    const piped = /^echo '([^']*)' \| tandem (.*)$/.exec(line);
    const plain = /^tandem (.*)$/.exec(line);
    const args = (piped?.[2] ?? plain?.[1])?.split(/\s+/).map(expand);
    expect(args, `a README line the test does not understand: ${line}`).toBeDefined();
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
    printed.set(line, result.stdout);
  }
  return { folders, printed };
}

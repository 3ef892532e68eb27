/**
 * Regression (issue 19): with B's disk full during a large download, every other download
 * waited behind it, a partial file stayed in `.tandem/tmp`, `tandem status` showed
 * `problems: []`, and the log repeated SQLite's "database or disk is full". Here B's folder
 * is a small tmpfs (its `.tandem`, and so its state database, on it too): a file larger
 * than the free space is a problem of its path that names the disk, the small files beside
 * it arrive, nothing partial is left, and the large file arrives once space is freed, by
 * deleting a file on B or by growing the disk. Tests run as root (here and in CI): a mount
 * that fails fails the test.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  sha256File,
  startHub,
  stopAll,
  tandem,
  tempDir,
  treeOf,
  twoDevices,
  waitFor,
  type Background,
  type Hub,
} from '../helpers/processes.js';

const MB = 1_000_000;

describe('a full disk on the receiving device', () => {
  let hub: Hub;
  let A = '';
  let B = '';
  let homeB = '';
  let mounted = false;
  const agents: Background[] = [];

  beforeAll(async () => {
    hub = await startHub();
    const homes = await twoDevices(hub, 'fran', 'disk');
    homeB = homes.homeB;
    const root = await tempDir();
    A = join(root, 'A');
    B = join(root, 'B');
    await mkdir(B);
    // (Throws, and fails every test here, where tmpfs cannot be mounted: run as root.)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', B]);
    mounted = true;
    agents.push(background(['sync', A, '--workspace', 'disk'], { home: homes.homeA }));
    agents.push(background(['sync', B, '--workspace', 'disk'], { home: homeB }));
    await waitFor(() => agents.every((a) => a.output().includes('up to date')), {
      timeoutMs: 30_000,
    });
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    if (mounted) execFileSync('umount', ['-l', B]);
    await stopAll();
  });

  const status = async () => {
    const result = await tandem(['status', B, '--json'], { home: homeB });
    const report = JSON.parse(result.stdout) as {
      problems: { path: string; message: string }[];
    };
    return { code: result.code, problems: report.problems };
  };
  const arrived = (name: string, sha: string) =>
    waitFor(
      async () => (await treeOf(B)).get(name)?.sha === sha && (await sha256File(join(B, name))),
      { timeoutMs: 60_000, what: () => `${name} to arrive on B\n${agents[1]!.output()}` },
    );
  const noPartialFiles = async () => expect(await readdir(join(B, '.tandem', 'tmp'))).toEqual([]);

  it('keeps the small files coming, names the disk, and brings the large one once a file is deleted', async () => {
    await writeFile(join(A, 'filler.bin'), randomBytes(3 * MB));
    await arrived('filler.bin', await sha256File(join(A, 'filler.bin')));

    // About 4 MB are free on B now (its .tandem holds 1 MiB in reserve): 5 MB do not fit,
    // with 1 MiB kept free for .tandem.
    await writeFile(join(A, 'large.bin'), randomBytes(5 * MB));
    await writeFile(join(A, 'small.txt'), 'twelve bytes');
    await arrived('small.txt', await sha256File(join(A, 'small.txt')));
    const { code, problems } = await waitFor(
      async () => {
        const now = await status();
        return now.problems.some((p) => p.path === 'large.bin') && now;
      },
      { timeoutMs: 30_000, what: () => `a problem for large.bin\n${agents[1]!.output()}` },
    );
    expect(code).not.toBe(0);
    expect(problems).toEqual([
      {
        path: 'large.bin',
        message: expect.stringMatching(
          new RegExp(`^the disk holding ${B} is full: [\\d.]+ MB free, 5\\.0 MB needed`),
        ) as unknown,
        since: expect.any(Number) as unknown,
      },
    ]);
    expect(agents[1]!.output()).toMatch(/large\.bin: the disk holding .* is full/);
    expect(agents[1]!.output()).not.toMatch(/database or disk is full|ENOSPC/);
    expect((await treeOf(B)).has('large.bin')).toBe(false);
    await noPartialFiles();

    // Space freed by deleting a file on B (which other devices then delete too).
    await rm(join(B, 'filler.bin'));
    await arrived('large.bin', await sha256File(join(A, 'large.bin')));
    await waitFor(async () => (await status()).code === 0, {
      timeoutMs: 30_000,
      what: () => `status to be clean\n${agents[1]!.output()}`,
    });
    await noPartialFiles();
  });

  it('brings a file larger than the whole disk once the disk grows', async () => {
    await writeFile(join(A, 'huge.bin'), randomBytes(12 * MB));
    await writeFile(join(A, 'beside.txt'), 'also small');
    await arrived('beside.txt', await sha256File(join(A, 'beside.txt')));
    await waitFor(
      async () =>
        (await status()).problems.some(
          (p) => p.path === 'huge.bin' && /^the disk holding .* is full/.test(p.message),
        ),
      { timeoutMs: 60_000, what: () => `a problem for huge.bin\n${agents[1]!.output()}` },
    );
    await noPartialFiles();
    execFileSync('mount', ['-o', 'remount,size=64m', B]);
    await arrived('huge.bin', await sha256File(join(A, 'huge.bin')));
    await waitFor(async () => (await status()).code === 0, { timeoutMs: 30_000 });
    await noPartialFiles();
  });

  it('keeps going when the disk is filled to the last byte by something else', async () => {
    // A file Tandem ignores fills the disk: its state database cannot grow any more either.
    const filler = join(B, 'filling.tmp');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=80'], {
        stdio: 'ignore',
      });
    } catch {
      // (dd stops at the end of the disk, which is the point.)
    }
    await writeFile(join(A, 'later.txt'), 'written while B was full');
    await waitFor(async () => (await status()).code !== 0, {
      timeoutMs: 30_000,
      what: () => `status to report the full disk\n${agents[1]!.output()}`,
    });
    expect(agents[1]!.child.exitCode).toBeNull(); // still running
    const failures = agents[1]!.output().match(/sync round failed: .*/g) ?? [];
    expect(failures.filter((line) => !line.includes('is full'))).toEqual([]);
    expect(agents[1]!.output()).not.toMatch(/please report this|database or disk is full/);

    await rm(filler);
    await arrived('later.txt', await sha256File(join(A, 'later.txt')));
    await waitFor(async () => (await status()).code === 0, { timeoutMs: 30_000 });
    await noPartialFiles();
    // The space kept aside for the state database, let go when the disk filled, is back.
    await waitFor(async () => (await stat(join(B, '.tandem', 'reserve'))).size === 1 << 20, {
      timeoutMs: 30_000,
    });
  });
});

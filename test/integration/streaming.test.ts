/**
 * Real hub and agents: a large file is fetched by the other device while it is still being
 * uploaded (from upload previews), arrives intact, and nothing is fetched twice.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  hubStats,
  startHub,
  stopAll,
  tempDir,
  twoDevices,
  waitFor,
  type Background,
  type Hub,
} from '../helpers/processes.js';

const MiB = 1024 * 1024;

describe('a large file streams to the other device', () => {
  let hub: Hub;
  let homeB: string;
  let root: string;
  let agentA: Background;
  let agentB: Background;

  beforeAll(async () => {
    hub = await startHub();
    let homeA: string;
    ({ homeA, homeB } = await twoDevices(hub, 'sam', 'media'));
    root = await tempDir();
    agentA = background(['sync', join(root, 'A'), '--workspace', 'media'], { home: homeA });
    // (Tracing makes B say how much of a download it had fetched before the commit.)
    agentB = background(['sync', join(root, 'B'), '--workspace', 'media'], {
      home: homeB,
      env: { TANDEM_TRACE: '1' },
    });
    await waitFor(
      () => agentA.output().includes('up to date') && agentB.output().includes('up to date'),
      { what: () => 'both agents to start' },
    );
  });

  afterAll(async () => {
    await Promise.all([agentA.stop(), agentB.stop()]);
    await hub.stop();
    await stopAll();
  });

  it('is written on B while A uploads it, and arrives byte for byte', async () => {
    const stats = () => hubStats(hub.url, homeB);
    const before = await stats();
    const bytes = randomBytes(64 * MiB);
    await mkdir(join(root, 'stage'));
    await writeFile(join(root, 'stage', 'movie.bin'), bytes);
    await rename(join(root, 'stage', 'movie.bin'), join(root, 'A', 'movie.bin'));
    await waitFor(
      async () =>
        (await readFile(join(root, 'B', 'movie.bin')).catch(() => undefined))?.equals(bytes),
      { timeoutMs: 60_000, what: () => `movie.bin on B (output: ${agentB.output()})` },
    );
    // Every preview reached B before the commit did, so the download took over a staged file.
    expect(agentB.output()).toMatch(
      new RegExp(`movie\\.bin: \\d+ of ${bytes.length} bytes were fetched before the commit`),
    );
    // Each chunk fetched once. (Seen once under heavy load at 75.6 MB for these 64 MiB, not
    // yet explained: the output says what each side did.)
    expect(
      (await stats()).chunkBytesOut - before.chunkBytesOut,
      `A:\n${agentA.output()}\nB:\n${agentB.output()}`,
    ).toBe(bytes.length);
    expect(await readdir(join(root, 'B', '.tandem', 'tmp'))).toEqual([]);
  });
});

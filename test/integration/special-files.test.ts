/**
 * Special files (issue 18): a named pipe or a socket in a synced folder is never opened and
 * never synced, and says so in `tandem status` and `sync --once` (non-zero exit). One that
 * stands where the hub has a file blocks only that path: nothing is deleted on the hub for
 * it, every other path keeps syncing both ways, and once it is moved away the hub's file
 * arrives. Real hub, real agents; the pipes come from mkfifo(1), the socket from a listening
 * net.Server.
 */
import { execFileSync } from 'node:child_process';
import { lstat, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  statusOf,
  stopAll,
  syncOnce,
  tandem,
  tempDir,
  twoDevices,
  waitFor,
} from '../helpers/processes.js';

let socketServer: Server | undefined;

afterEach(async () => {
  await new Promise<void>((done) => (socketServer ? socketServer.close(() => done()) : done()));
  socketServer = undefined;
  await stopAll();
});

const contents = (path: string) => readFile(path, 'utf8').catch(() => undefined);

describe('special files', () => {
  it('a FIFO where the hub has a file blocks that path only, is reported, and yields once removed', async () => {
    const hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'fifo', 'pipes');
    const root = await tempDir();
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    const once = (dir: string, home: string, workspace = true) =>
      syncOnce(dir, home, workspace ? ['--workspace', 'pipes'] : []);
    await once(dirA, homeA);
    await writeFile(join(dirA, 'blocked.txt'), 'the hub keeps this\n');
    await writeFile(join(dirA, 'other.txt'), 'other v1\n');
    await once(dirA, homeA, false);
    await once(dirB, homeB);
    expect(await contents(join(dirB, 'blocked.txt'))).toBe('the hub keeps this\n');

    // While A is stopped: its copy of blocked.txt is deleted and a pipe made in its place,
    // and a new pipe and a socket appear.
    await rm(join(dirA, 'blocked.txt'));
    execFileSync('mkfifo', [join(dirA, 'blocked.txt')]);
    execFileSync('mkfifo', [join(dirA, 'new.fifo')]);
    const server = createServer();
    socketServer = server;
    await new Promise<void>((done) => server.listen(join(dirA, 'app.sock'), done));
    expect((await lstat(join(dirA, 'app.sock'))).isSocket()).toBe(true);

    const agentA = background(['sync', dirA], { home: homeA });
    const agentB = background(['sync', dirB], { home: homeB });
    await waitFor(
      () => agentA.output().includes('up to date') && agentB.output().includes('up to date'),
      {
        timeoutMs: 30_000,
        what: () => `both agents to settle\n${agentA.output()}\n${agentB.output()}`,
      },
    );

    // Every other path keeps syncing both ways.
    await writeFile(join(dirA, 'from-a.txt'), 'made on A\n');
    await writeFile(join(dirB, 'other.txt'), 'other v2 from B\n');
    await writeFile(join(dirB, 'blocked.txt'), 'the hub keeps this, edited on B\n');
    await waitFor(async () => (await contents(join(dirB, 'from-a.txt'))) === 'made on A\n', {
      timeoutMs: 30_000,
      what: () => `from-a.txt on B\n${agentA.output()}\n${agentB.output()}`,
    });
    await waitFor(async () => (await contents(join(dirA, 'other.txt'))) === 'other v2 from B\n', {
      timeoutMs: 30_000,
      what: () => `B's other.txt on A\n${agentA.output()}\n${agentB.output()}`,
    });

    // Nothing was deleted on the hub for the pipe, and nothing of the special files left A.
    expect(await contents(join(dirB, 'blocked.txt'))).toBe('the hub keeps this, edited on B\n');
    for (const name of ['new.fifo', 'app.sock'])
      await expect(lstat(join(dirB, name))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await lstat(join(dirA, 'blocked.txt'))).isFIFO()).toBe(true);

    // Status names each, with why, and exits non-zero.
    const status = await waitFor(
      async () => {
        const s = await statusOf(dirA, homeA);
        const blocked = s.report.problems.some(
          (p) =>
            p.path === 'blocked.txt' &&
            /the hub has a file here; a named pipe \(FIFO\) stands in its way/.test(p.message),
        );
        return blocked ? s : undefined;
      },
      { timeoutMs: 30_000, what: () => `the blocked path in status\n${agentA.output()}` },
    );
    expect(status.code).not.toBe(0);
    const messages = (path: string) =>
      status.report.problems.filter((p) => p.path === path).map((p) => p.message);
    expect(messages('new.fifo')).toContain('a named pipe (FIFO) is not synced');
    expect(messages('app.sock')).toContain('a socket is not synced');
    expect(agentA.output()).toMatch(/blocked\.txt: the hub has a file here/);

    // Once the pipe is moved away, the hub's file arrives, with B's edit.
    await rm(join(dirA, 'blocked.txt'));
    await waitFor(
      async () =>
        (await contents(join(dirA, 'blocked.txt'))) === 'the hub keeps this, edited on B\n',
      { timeoutMs: 30_000, what: () => `the hub's blocked.txt on A\n${agentA.output()}` },
    );
    expect(await contents(join(dirB, 'blocked.txt'))).toBe('the hub keeps this, edited on B\n');
    expect(await agentA.stop()).toBe(0);

    // sync --once does not call the folder settled while a pipe or socket stands in it.
    const unsettled = await tandem(['sync', dirA, '--once', '--json'], { home: homeA });
    expect(unsettled.code, unsettled.stderr).not.toBe(0);
    const document = JSON.parse(unsettled.stdout) as {
      settled: boolean;
      problems: { path: string }[];
    };
    expect(document.settled).toBe(false);
    expect(document.problems.map((p) => p.path).sort()).toEqual(['app.sock', 'new.fifo']);

    await rm(join(dirA, 'new.fifo'));
    await new Promise<void>((done) => server.close(() => done()));
    socketServer = undefined;
    await rm(join(dirA, 'app.sock'), { force: true });
    await once(dirA, homeA, false);
    const clean = await statusOf(dirA, homeA);
    expect(clean.report.problems).toEqual([]);
    expect(clean.code).toBe(0);
    expect(await agentB.stop()).toBe(0);
  }, 180_000);
});

/**
 * The README's first command, as a newcomer runs it: `npm start` builds and starts the hub,
 * and stopping npm (Ctrl-C, or SIGTERM from a service manager) stops the hub too, leaving
 * nothing listening. Runs in a copy of the project, so its build does not touch the dist/
 * the other tests use.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, symlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, stopAll, tempDir, waitFor } from '../helpers/processes.js';

const PROJECT = resolve(import.meta.dirname, '../..');

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe('npm start', () => {
  afterAll(stopAll);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the hub when npm gets ${signal}, leaving no process on the port`, async () => {
      const copy = await tempDir('tandem-npm-start-');
      for (const item of [
        'src',
        'bin',
        'native',
        'package.json',
        'tsconfig.json',
        'tsconfig.build.json',
      ])
        await cp(join(PROJECT, item), join(copy, item), { recursive: true });
      await symlink(join(PROJECT, 'node_modules'), join(copy, 'node_modules'));
      await symlink(join(PROJECT, 'build'), join(copy, 'build'));
      await mkdir(join(copy, 'data'));
      const port = await freePort();
      const npm = spawn(
        'npm',
        ['start', '--', '--port', String(port), '--data', join(copy, 'data')],
        {
          cwd: copy,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      npm.stdout.on('data', (d: Buffer) => (output += d.toString()));
      npm.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<void>((done) => npm.on('exit', () => done()));
      try {
        await waitFor(() => output.includes(`listening on http://127.0.0.1:${port}`), {
          timeoutMs: 60_000,
          what: () => `npm start to start the hub (output: ${output})`,
        });
        expect(await listening(port)).toBe(true);
        npm.kill(signal);
        await exited;
        await waitFor(async () => !(await listening(port)), {
          timeoutMs: 5_000,
          what: () => `the hub on port ${port} to stop with npm`,
        });
      } finally {
        try {
          process.kill(-npm.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
});

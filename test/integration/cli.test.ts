/**
 * The CLI as people meet it: every command has --help, listings have --json, and every
 * failure is one clear line on stderr with a non-zero exit code, never a stack trace.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  account,
  freePort,
  startHub,
  stopAll,
  tandem,
  tempDir,
  type Hub,
} from '../helpers/processes.js';

function expectOneLineError(
  result: { code: number | null; stderr: string; stdout: string },
  pattern: RegExp,
) {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tandem: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('tandem CLI', () => {
  let hub: Hub;
  let home: string;

  beforeAll(async () => {
    hub = await startHub();
    home = await account(hub.url, 'gina', { register: true, device: 'cli' });
    expect((await tandem(['workspace', 'create', 'alpha'], { home })).code).toBe(0);
    expect((await tandem(['workspace', 'create', 'beta'], { home })).code).toBe(0);
  });
  afterAll(stopAll);

  const commands = [
    [],
    ['server'],
    ['register'],
    ['login'],
    ['logout'],
    ['whoami'],
    ['password'],
    ['password', 'change'],
    ['device'],
    ['device', 'list'],
    ['device', 'revoke'],
    ['admin'],
    ['admin', 'invite'],
    ['workspace'],
    ['workspace', 'create'],
    ['workspace', 'list'],
    ['workspace', 'share'],
    ['workspace', 'unshare'],
    ['workspace', 'members'],
    ['workspace', 'leave'],
    ['workspace', 'rename'],
    ['workspace', 'delete'],
    ['sync'],
    ['status'],
    ['explain'],
  ];
  for (const command of commands) {
    it(`tandem ${command.join(' ')} --help explains itself`, async () => {
      const result = await tandem([...command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage: tandem/);
    });
  }

  it('lists workspaces as a table and as one JSON document', async () => {
    const table = await tandem(['workspace', 'list'], { home });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/NAME\s+ROLE/);
    expect(table.stdout).toMatch(/alpha\s+owner\s+gina/);
    const json = await tandem(['workspace', 'list', '--json'], { home });
    expect(JSON.parse(json.stdout).workspaces.map((w: { name: string }) => w.name)).toEqual([
      'alpha',
      'beta',
    ]);
  });

  it('refuses a wrong password', async () => {
    const result = await tandem(
      ['login', '--server', hub.url, '--user', 'gina', '--password-stdin'],
      { home: await tempDir(), input: 'wrong\n' },
    );
    expectOneLineError(result, /wrong user name or password/i);
  });

  it('refuses to register a taken name', async () => {
    const result = await tandem(
      ['register', '--server', hub.url, '--user', 'gina', '--password-stdin'],
      { home: await tempDir(), input: 'whatever it is\n' },
    );
    expectOneLineError(result, /already exists.*tandem login/);
  });

  it('refuses a password shorter than 10 characters, saying so', async () => {
    const result = await tandem(
      ['register', '--server', hub.url, '--user', 'shorty', '--password-stdin', '--json'],
      { home: await tempDir(), input: 'hunter\n' },
    );
    expectOneLineError(result, /at least 10 characters \(this one has 6\)/);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'WEAK_PASSWORD' } });
  });

  it('prints one JSON error document on stdout for a failure with --json, usage errors too', async () => {
    const notSignedIn = await tandem(['workspace', 'list', '--json'], { home: await tempDir() });
    expect(notSignedIn.code).not.toBe(0);
    expect(JSON.parse(notSignedIn.stdout)).toMatchObject({
      error: { message: expect.stringMatching(/not signed in/) as string },
    });
    const usage = await tandem(['workspace', 'list', '--json', '--bogus'], { home });
    expect(usage.code).not.toBe(0);
    expect(JSON.parse(usage.stdout)).toMatchObject({ error: { code: 'USAGE' } });
    expect(usage.stderr).toMatch(/^tandem: unknown option '--bogus'.*--help/);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says when the hub is unreachable', async () => {
    const port = await freePort();
    const result = await tandem(
      ['login', '--server', `http://127.0.0.1:${port}`, '--user', 'gina', '--password-stdin'],
      { home: await tempDir(), input: 'x\n' },
    );
    expectOneLineError(result, /cannot reach the hub.*ECONNREFUSED/i);
  });

  it('says when --server is not a URL', async () => {
    const result = await tandem(
      ['login', '--server', 'not a url', '--user', 'gina', '--password-stdin'],
      { home: await tempDir(), input: 'x\n' },
    );
    expectOneLineError(result, /must be a URL/);
  });

  it('says when this device is not signed in', async () => {
    const result = await tandem(['workspace', 'list'], { home: await tempDir() });
    expectOneLineError(result, /not signed in.*tandem (register|login)/);
  });

  it('says when a workspace does not exist', async () => {
    const result = await tandem(
      ['sync', join(await tempDir(), 'x'), '--workspace', 'nope', '--once'],
      { home },
    );
    expectOneLineError(result, /no workspace named "nope".*alpha, beta/);
  });

  it('says when a folder is linked to another workspace', async () => {
    const dir = join(await tempDir(), 'linked');
    expect((await tandem(['sync', dir, '--workspace', 'alpha', '--once'], { home })).code).toBe(0);
    const result = await tandem(['sync', dir, '--workspace', 'beta', '--once'], { home });
    expectOneLineError(result, /linked to workspace "alpha", not "beta"/);
    // After linking, the folder alone is enough.
    expect((await tandem(['sync', dir, '--once'], { home })).code).toBe(0);
  });

  it('says when a folder is not linked yet and no workspace was given', async () => {
    const dir = await tempDir();
    const result = await tandem(['sync', dir, '--once'], { home });
    expectOneLineError(result, /not linked to a workspace yet.*--workspace/);
  });

  it('says what to add before creating a new folder that has no workspace yet', async () => {
    const dir = join(await tempDir(), 'new-folder');
    const result = await tandem(['sync', dir, '--once'], { home });
    expectOneLineError(result, /not linked to a workspace yet.*--workspace NAME/);
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    const unknown = await tandem(['sync', dir, '--workspace', 'nope', '--once'], { home });
    expectOneLineError(unknown, /no workspace named "nope"/);
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to link a folder inside a synced folder, or one that contains one, naming it', async () => {
    const outer = join(await tempDir(), 'outer');
    expect((await tandem(['sync', outer, '--workspace', 'alpha', '--once'], { home })).code).toBe(
      0,
    );
    const inner = join(outer, 'inner');
    await mkdir(inner);
    const inside = await tandem(['sync', inner, '--workspace', 'alpha', '--once'], { home });
    expectOneLineError(inside, new RegExp(`lies inside ${outer}, which is already synced`));
    await expect(stat(join(inner, '.tandem'))).rejects.toMatchObject({ code: 'ENOENT' });
    const parent = join(outer, '..');
    const around = await tandem(['sync', parent, '--workspace', 'beta', '--once'], { home });
    expectOneLineError(around, new RegExp(`contains ${outer}, which is already synced`));
    await expect(stat(join(parent, '.tandem'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says when the path to sync is a file', async () => {
    const dir = await tempDir();
    await (await import('node:fs/promises')).writeFile(join(dir, 'file'), 'x');
    const result = await tandem(['sync', join(dir, 'file'), '--workspace', 'alpha', '--once'], {
      home,
    });
    expectOneLineError(result, /is not a folder/);
  });

  it('refuses a second agent on the same folder', async () => {
    const dir = join(await tempDir(), 'busy');
    await mkdir(dir);
    expect((await tandem(['sync', dir, '--workspace', 'alpha', '--once'], { home })).code).toBe(0);
    const { background } = await import('../helpers/processes.js');
    const first = background(['sync', dir], { home });
    const { waitFor } = await import('../helpers/processes.js');
    await waitFor(() => first.output().includes('up to date'));
    const second = await tandem(['sync', dir], { home });
    expectOneLineError(second, /already syncing/);
    expect(await first.stop()).toBe(0);
  });

  it('says when the port is taken', async () => {
    const port = Number(new URL(hub.url).port);
    const result = await tandem([
      'server',
      '--data',
      join(await tempDir(), 'd'),
      '--port',
      String(port),
    ]);
    expectOneLineError(result, /already in use/);
  });

  it('reports status of a folder that is not synced', async () => {
    const result = await tandem(['status', await tempDir()], { home });
    expectOneLineError(result, /not a synced folder/);
  });

  it('rejects an unknown option with usage help and a non-zero code', async () => {
    const result = await tandem(['workspace', 'list', '--bogus'], { home });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown option '--bogus'/);
  });
});

/**
 * A hub over TLS, as people run it on a LAN (here on loopback): `tandem server --tls` makes a
 * self-signed certificate and prints its fingerprint; devices refuse it until they pin it with
 * `--fingerprint`; agents then sync over https and wss; and a hub that comes back with another
 * certificate is refused by every pinned device, which stops and writes nothing.
 */
import { stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintHex, type Fingerprint } from '../../src/core/fingerprint.js';
import { createSelfSignedCertificate } from '../../src/server/tls.js';
import {
  account,
  background,
  freePort,
  startHub,
  stopAll,
  tandem,
  tempDir,
  treeOf,
  waitFor,
  type Background,
  type CliResult,
  type Hub,
} from '../helpers/processes.js';
import { followReadme, readmeCommands } from '../helpers/readme.js';

const PRINTED = /certificate fingerprint: (SHA256:[A-Za-z0-9+/]{43})/;
const PASSWORD = 'a long enough password';
const INPUT = `${PASSWORD}\n`;

function expectOneLineError(result: CliResult, pattern: RegExp): string {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code).not.toBeNull();
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tandem: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

async function printedFingerprint(hub: Hub): Promise<Fingerprint> {
  return (await waitFor(() => PRINTED.exec(hub.output())?.[1], {
    what: () => `the hub to print its fingerprint: ${hub.output()}`,
  })) as Fingerprint;
}

async function head(home: string, workspace: string): Promise<number> {
  const list = await tandem(['workspace', 'list', '--json'], { home });
  expect(list.code, list.stderr).toBe(0);
  const found = (JSON.parse(list.stdout) as { workspaces: { name: string; head: number }[] })
    .workspaces;
  return found.find((w) => w.name === workspace)!.head;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('a hub over TLS', () => {
  const agents: Background[] = [];
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await stopAll();
  });

  it('is pinned by fingerprint, syncs over https and wss, and is refused once its certificate changes', async () => {
    const dataDir = join(await tempDir('tandem-tls-'), 'data');
    const port = await freePort();
    let hub = await startHub({ dataDir, port, args: ['--tls'] });
    expect(hub.url).toBe(`https://127.0.0.1:${port}`);
    const pinned = await printedFingerprint(hub);
    expect(hub.output()).not.toMatch(/warning/);
    expect((await stat(join(dataDir, 'tls', 'key.pem'))).mode & 0o777).toBe(0o600);

    // `tandem server fingerprint` shows the same fingerprint again.
    const shown = await tandem(['server', 'fingerprint', '--data', dataDir]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.trim()).toBe(pinned);
    const shownJson = JSON.parse(
      (await tandem(['server', 'fingerprint', '--data', dataDir, '--json'])).stdout,
    ) as { fingerprint: string; sha256: string; generated: boolean };
    expect(shownJson).toMatchObject({ fingerprint: pinned, generated: true });

    // Without --fingerprint the self-signed hub is refused, and the refusal shows what to pin.
    const register = ['register', '--server', hub.url, '--user', 'tess', '--password-stdin'];
    const refusedHome = await tempDir('tandem-home-');
    const refused = await tandem(register, { home: refusedHome, input: INPUT });
    expectOneLineError(
      refused,
      new RegExp(
        `does not trust \\(it is self-signed\\); its fingerprint is ${escape(pinned)}: .*tandem server.*--fingerprint ${escape(pinned)}`,
      ),
    );
    await expect(stat(join(refusedHome, 'config.json'))).rejects.toThrow(/ENOENT/);
    const refusedJson = await tandem([...register, '--json'], {
      home: refusedHome,
      input: INPUT,
    });
    expectOneLineError(refusedJson, /does not trust/);
    expect(JSON.parse(refusedJson.stdout)).toEqual({
      error: { code: 'UNREACHABLE', message: expect.stringContaining(pinned), fingerprint: pinned },
    });

    // A wrong fingerprint is refused too, before any password is sent.
    const wrong = `SHA256:${'A'.repeat(43)}`;
    expectOneLineError(
      await tandem([...register, '--fingerprint', wrong], { home: refusedHome, input: INPUT }),
      new RegExp(`presented the certificate ${escape(pinned)}, not ${escape(wrong)}`),
    );

    // Pinned: one device with the printed form, the other with openssl's hex.
    const homeA = await account(hub.url, 'tess', {
      register: true,
      password: PASSWORD,
      device: 'a',
      args: ['--fingerprint', pinned],
    });
    const homeB = await account(hub.url, 'tess', {
      register: false,
      password: PASSWORD,
      device: 'b',
      args: ['--fingerprint', fingerprintHex(pinned)],
    });
    for (const home of [homeA, homeB])
      expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8'))).toMatchObject({
        server: hub.url,
        fingerprint: pinned,
      });
    expect((await tandem(['workspace', 'create', 'lan'], { home: homeA })).code).toBe(0);

    const dirA = join(await tempDir(), 'a');
    const dirB = join(await tempDir(), 'b');
    const agentA = background(['sync', dirA, '--workspace', 'lan'], { home: homeA });
    const agentB = background(['sync', dirB, '--workspace', 'lan'], { home: homeB });
    agents.push(agentA, agentB);
    for (const agent of [agentA, agentB])
      await waitFor(() => agent.output().includes('up to date'), {
        what: () => `the agent to start: ${agent.output()}`,
      });
    await writeFile(join(dirA, 'hello.txt'), 'from a\n');
    await waitFor(async () => (await readFile(join(dirB, 'hello.txt'), 'utf8')) === 'from a\n', {
      what: () => `hello.txt to reach b: ${agentB.output()}`,
    });
    await writeFile(join(dirB, 'reply.txt'), 'from b\n');
    await waitFor(async () => (await readFile(join(dirA, 'reply.txt'), 'utf8')) === 'from b\n', {
      what: () => `reply.txt to reach a: ${agentA.output()}`,
    });

    // Let the agents go idle (their scan 2 s after activity included), so that what stops
    // them below is the event socket's reconnection meeting the new certificate.
    await new Promise((r) => setTimeout(r, 2_500));

    // The hub comes back, on the same data and port, with another certificate.
    await hub.stop();
    const certDir = await tempDir('tandem-cert-');
    const other = await createSelfSignedCertificate(['localhost', '127.0.0.1']);
    await writeFile(join(certDir, 'cert.pem'), other.cert);
    await writeFile(join(certDir, 'key.pem'), other.key, { mode: 0o600 });
    const given = ['--tls-cert', join(certDir, 'cert.pem'), '--tls-key', join(certDir, 'key.pem')];
    hub = await startHub({ dataDir, port, args: given });
    const changed = await printedFingerprint(hub);
    expect(changed).not.toBe(pinned);
    const shownGiven = await tandem(['server', 'fingerprint', '--data', dataDir, ...given]);
    expect(shownGiven.stdout.trim()).toBe(changed);

    // A third device pins the new certificate and commits a file.
    const homeC = await account(hub.url, 'tess', {
      register: false,
      password: PASSWORD,
      device: 'c',
      args: ['--fingerprint', changed],
    });
    const dirC = join(await tempDir(), 'c');
    expect(
      (await tandem(['sync', dirC, '--workspace', 'lan', '--once'], { home: homeC })).code,
    ).toBe(0);
    await writeFile(join(dirC, 'after.txt'), 'from c, after the change\n');
    const committed = await tandem(['sync', dirC, '--once'], { home: homeC });
    expect(committed.code, committed.stderr).toBe(0);
    const headAfterC = await head(homeC, 'lan');

    // The running agents stop on their own, saying what changed.
    const changedMessage = new RegExp(
      `expected ${escape(pinned)}, the hub presented ${escape(changed)}; .*renewed on purpose, run \`tandem login --server ${escape(hub.url)} --fingerprint ${escape(changed)}`,
    );
    for (const agent of [agentA, agentB]) {
      const code = await Promise.race([
        agent.exited,
        new Promise<string>((r) => setTimeout(() => r('still running'), 20_000)),
      ]);
      expect(code, agent.output()).not.toBe('still running');
      expect(code).not.toBe(0);
      expect(agent.output()).toMatch(changedMessage);
      expect(agent.output()).not.toMatch(/\n\s+at /);
    }
    const expectedTree = ['hello.txt', 'reply.txt'];
    expect([...(await treeOf(dirA)).keys()]).toEqual(expectedTree);
    expect([...(await treeOf(dirB)).keys()]).toEqual(expectedTree);

    // `sync --once` and other commands of a pinned device refuse too, and move nothing.
    await writeFile(join(dirA, 'local-only.txt'), 'never sent to the impostor\n');
    const before = await treeOf(dirA);
    expectOneLineError(await tandem(['sync', dirA, '--once'], { home: homeA }), changedMessage);
    expect(await treeOf(dirA)).toEqual(before);
    expectOneLineError(await tandem(['workspace', 'list'], { home: homeA }), changedMessage);
    expect(await head(homeC, 'lan')).toBe(headAfterC);

    // Once the change is confirmed, signing in again with the new fingerprint mends it.
    const relogin = await tandem(
      [
        'login',
        '--server',
        hub.url,
        '--fingerprint',
        changed,
        '--user',
        'tess',
        '--password-stdin',
      ],
      { home: homeA, input: INPUT },
    );
    expect(relogin.code, relogin.stderr).toBe(0);
    const mended = await tandem(['sync', dirA, '--once'], { home: homeA });
    expect(mended.code, mended.stderr).toBe(0);
    expect(await readFile(join(dirA, 'after.txt'), 'utf8')).toBe('from c, after the change\n');
    expect(await head(homeC, 'lan')).toBeGreaterThan(headAfterC); // local-only.txt went up
  });

  it("follows the README's LAN section as written (on loopback)", async () => {
    const lines = await readmeCommands('A hub on your LAN, with TLS');
    expect(lines[0]).toBe('tandem server --host 0.0.0.0 --tls');
    // The same hub, bound to loopback only, on a free port instead of 8080.
    const hub = await startHub({ args: ['--host', '127.0.0.1', '--tls'] });
    const printed = await printedFingerprint(hub);
    const home = await tempDir('tandem-readme-tls-');
    const expand = (word: string) =>
      word
        .replace(/^~\//, `${home}/`)
        .replace('https://192.168.x.y:8080', hub.url)
        .replace(/^SHA256:\.\.\.$/, printed);
    const { folders } = await followReadme(lines.slice(1), expand, agents);
    expect(folders).toHaveLength(2);
    await writeFile(join(folders[0]!, 'minutes.txt'), 'over TLS\n');
    await waitFor(
      async () => (await readFile(join(folders[1]!, 'minutes.txt'), 'utf8')) === 'over TLS\n',
    );
  });

  it('warns when it listens beyond loopback without TLS, and not with it', async () => {
    const open = await startHub({ args: ['--host', '0.0.0.0'] });
    const warning = await waitFor(() => /^warning: .*$/m.exec(open.output())?.[0], {
      what: () => `a warning: ${open.output()}`,
    });
    expect(warning).toMatch(/without TLS: .*tokens.*files travel in clear/);
    expect(warning).toMatch(/--tls\b/);
    expect(open.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    // (Its Ctrl-C handler is in place once it says so.)
    await waitFor(() => open.output().includes('stop with Ctrl-C'));
    expect(await open.stop()).toBe(0);

    const safe = await startHub({ args: ['--host', '0.0.0.0', '--tls'] });
    await printedFingerprint(safe);
    expect(safe.url).toMatch(/^https:\/\/0\.0\.0\.0:\d+$/);
    await waitFor(() => safe.output().includes('stop with Ctrl-C'));
    expect(safe.output()).not.toMatch(/warning/);
    expect(await safe.stop()).toBe(0);
  });

  it('explains the new command and flags in --help', async () => {
    const fingerprint = await tandem(['server', 'fingerprint', '--help']);
    expect(fingerprint.code).toBe(0);
    expect(fingerprint.stdout).toMatch(/Usage: tandem server fingerprint .*--tls-cert FILE/);
    expect((await tandem(['server', '--help'])).stdout).toMatch(
      /--tls-cert <file>[\s\S]*--tls-key/,
    );
    expect((await tandem(['login', '--help'])).stdout).toMatch(/--fingerprint <SHA256:...>/);
  });

  it('explains a certificate or key it cannot use, in one line', async () => {
    const dir = await tempDir('tandem-cert-');
    const { cert } = await createSelfSignedCertificate(['localhost']);
    const { key } = await createSelfSignedCertificate(['localhost']);
    await writeFile(join(dir, 'cert.pem'), cert);
    await writeFile(join(dir, 'key.pem'), key);
    const server = ['server', '--data', join(dir, 'data'), '--port', '0'];
    expectOneLineError(
      await tandem([
        ...server,
        '--tls-cert',
        join(dir, 'missing.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
      ]),
      /cannot read .*missing\.pem: no such file/,
    );
    expectOneLineError(
      await tandem([
        ...server,
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
      ]),
      /the private key does not belong to the certificate/,
    );
    expectOneLineError(
      await tandem([...server, '--tls-cert', join(dir, 'cert.pem')]),
      /--tls-key is missing/,
    );
    expectOneLineError(
      await tandem(['server', 'fingerprint', '--data', join(dir, 'data')]),
      /no certificate in .*tls: the hub makes one when it starts with --tls/,
    );
  });
});

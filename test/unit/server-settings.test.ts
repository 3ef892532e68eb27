/** `tandem server`'s settings: flags over TANDEM_* over --config FILE over defaults. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envName, resolveServerSettings } from '../../src/cli/server-settings.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-settings-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('server settings', () => {
  it('are the defaults with nothing given', async () => {
    expect(await resolveServerSettings({}, {}, undefined)).toEqual({
      data: resolve('tandem-data'),
      host: '127.0.0.1',
      port: 8080,
      tls: false,
      'log-level': 'info',
      'metrics-host': '127.0.0.1',
      registration: 'open',
    });
  });

  it('take the file over the defaults, the environment over the file, a flag over both', async () => {
    const toml = await file(
      'hub.toml',
      'data = "hub-data"\nport = 9000\nhost = "0.0.0.0"\ntls = true\nlog-level = "warn"\nregistration = "invite"\n',
    );
    expect(await resolveServerSettings({}, {}, toml)).toEqual({
      data: join(dir, 'hub-data'), // relative to the file's folder
      host: '0.0.0.0',
      port: 9000,
      tls: true,
      'log-level': 'warn',
      'metrics-host': '127.0.0.1',
      registration: 'invite',
    });
    const env = { TANDEM_PORT: '9100', TANDEM_TLS: 'false', TANDEM_DATA: 'from-env' };
    expect(await resolveServerSettings({}, env, toml)).toMatchObject({
      port: 9100,
      tls: false,
      data: resolve('from-env'), // relative to the current folder
      host: '0.0.0.0',
    });
    expect(await resolveServerSettings({ port: '9200', tls: true }, env, toml)).toMatchObject({
      port: 9200,
      tls: true,
    });
    // An empty variable is no setting (as `TANDEM_PORT= tandem server` means).
    expect(await resolveServerSettings({}, { TANDEM_PORT: '' }, toml)).toMatchObject({
      port: 9000,
    });
  });

  it('read JSON with the same names', async () => {
    const json = await file(
      'hub.json',
      JSON.stringify({ port: 0, 'tls-cert': 'c.pem', 'tls-key': '/k.pem' }),
    );
    expect(await resolveServerSettings({}, {}, json)).toMatchObject({
      port: 0,
      'tls-cert': join(dir, 'c.pem'),
      'tls-key': '/k.pem',
    });
  });

  it('name every variable after its flag', () => {
    expect(envName('tls-cert')).toBe('TANDEM_TLS_CERT');
    expect(envName('log-level')).toBe('TANDEM_LOG_LEVEL');
  });

  const refusals: [string, string, string | undefined, Record<string, string>, RegExp][] = [
    [
      'an unknown key',
      'a.toml',
      'prot = 80\n',
      {},
      /a\.toml: unknown setting "prot" \(the settings are data, host, port/,
    ],
    [
      'a port of the wrong kind',
      'b.toml',
      'port = "eighty"\n',
      {},
      /b\.toml: "port" must be a number from 0 to 65535, not "eighty"$/,
    ],
    [
      'a port out of range',
      'c.json',
      '{"port": 70000}',
      {},
      /c\.json: "port" must be a number from 0 to 65535, not 70000$/,
    ],
    [
      'a switch that is text',
      'd.toml',
      'tls = "maybe"\n',
      {},
      /d\.toml: "tls" must be true or false, not "maybe"$/,
    ],
    [
      'a level that is none',
      'e.toml',
      'log-level = "loud"\n',
      {},
      /e\.toml: "log-level" must be one of fatal, error, warn, info, debug, trace, silent, not "loud"$/,
    ],
    [
      'a registration mode that is none',
      'e2.toml',
      'registration = "anyone"\n',
      {},
      /e2\.toml: "registration" must be open, closed, invite, not "anyone"$/,
    ],
    [
      'TOML that is not',
      'f.toml',
      'port = \n',
      {},
      /f\.toml: not valid TOML: .*\(line 1, column \d+\)$/,
    ],
    ['JSON that is not', 'g.json', '{"port": 80,}', {}, /g\.json: not valid JSON: /],
    ['a list instead of a table', 'h.json', '[1]', {}, /h\.json: must hold a table of settings/],
    [
      'a variable of the wrong kind',
      'i.toml',
      '',
      { TANDEM_PORT: 'abc' },
      /^TANDEM_PORT must be a number from 0 to 65535, not "abc"$/,
    ],
  ];
  for (const [what, name, text, env, message] of refusals)
    it(`refuse ${what} in one line naming where it came from`, async () => {
      const path = await file(name, text ?? '');
      const refused = resolveServerSettings({}, env, path);
      await expect(refused).rejects.toThrow(message);
      await refused.catch((error: Error) => expect(error.message).not.toContain('\n'));
    });

  it('refuse a file that is not there, naming it', async () => {
    await expect(resolveServerSettings({}, {}, join(dir, 'none.toml'))).rejects.toThrow(
      /none\.toml: no such file/,
    );
  });
});

/**
 * `tandem register` and `tandem login`: create an account or sign in, and register this
 * device; with `--fingerprint`, accept the hub only with that certificate and pin it.
 */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { HttpTransport, HubClient } from '../../agent/hub-client.js';
import { HubCertificateError, hubTrust } from '../../agent/hub-trust.js';
import { parseFingerprint, type Fingerprint } from '../../core/fingerprint.js';
import { TandemError } from '../../protocol/errors.js';
import { saveConfig } from '../config.js';
import { CliError, describeError, jsonOption, printJson } from '../output.js';

interface AccountOptions {
  server: string;
  user: string;
  passwordStdin?: boolean;
  deviceName?: string;
  fingerprint?: string;
  json?: boolean;
}

export function registerAccountCommands(program: Command): void {
  for (const verb of ['register', 'login'] as const) {
    program
      .command(verb)
      .description(
        verb === 'register'
          ? 'create an account on a hub and register this device'
          : 'sign in to a hub and register this device',
      )
      .requiredOption('--server <url>', 'the hub, e.g. http://127.0.0.1:8080')
      .requiredOption('--user <name>', 'user name')
      .option('--password-stdin', 'read the password from standard input')
      .option('--device-name <name>', 'how this device is called in conflicted copies', hostname())
      .option(
        '--fingerprint <SHA256:...>',
        'accept the https hub only with this certificate (the fingerprint `tandem server` printed; also AB:CD:... hex), and pin it for this device',
      )
      .addOption(jsonOption())
      .action(async (options: AccountOptions) => {
        try {
          await signIn(verb, options);
        } catch (error) {
          // With --json the failure is one JSON document too (and the usual line on stderr).
          if (options.json) printJson(errorDocument(error));
          throw error;
        }
      });
  }
}

/** Signs in (or registers), then writes the device config, with the pin when one is given. */
async function signIn(verb: 'register' | 'login', options: AccountOptions): Promise<void> {
  const server = normalizeServer(options.server);
  const pin = options.fingerprint === undefined ? undefined : pinOf(options.fingerprint, server);
  if (!options.passwordStdin)
    throw new CliError(
      'pass the password on standard input with --password-stdin, e.g. `echo "$PW" | tandem login ... --password-stdin`',
    );
  const password = await readPassword();
  const client = new HubClient(new HttpTransport(server, hubTrust(server, pin)));
  const credentials = {
    user: options.user,
    password,
    deviceName: options.deviceName ?? hostname(),
  };
  let auth;
  try {
    auth =
      verb === 'register' ? await client.register(credentials) : await client.login(credentials);
  } catch (error) {
    // Nothing was pinned yet: a mismatch here is a mistyped fingerprint or another hub.
    if (error instanceof HubCertificateError && error.code === 'CERTIFICATE_CHANGED')
      throw new HubCertificateError(
        'CERTIFICATE_CHANGED',
        `the hub at ${server} presented the certificate ${error.presented ?? '(none)'}, not ${pin} given with --fingerprint: compare with the fingerprint \`tandem server\` printed (\`tandem server fingerprint\` on the hub shows it again)`,
        error.presented,
        pin,
      );
    throw error;
  }
  const path = await saveConfig({
    server,
    user: auth.user.name,
    userId: auth.user.id,
    deviceId: auth.device.id,
    deviceName: auth.device.name,
    token: auth.token,
    ...(pin ? { fingerprint: pin } : {}),
  });
  if (options.json)
    printJson({
      server,
      user: auth.user,
      device: auth.device,
      fingerprint: pin ?? null,
      config: path,
    });
  else
    process.stderr.write(
      `${verb === 'register' ? 'registered' : 'signed in'} as ${auth.user.name} on ${server}; this device is "${auth.device.name}"${pin ? `, and accepts only the certificate ${pin}` : ''} (credentials in ${path})\n`,
    );
}

/** `--fingerprint` read, or a CliError saying what it should look like. */
function pinOf(text: string, server: string): Fingerprint {
  if (!server.startsWith('https:'))
    throw new CliError(
      `--fingerprint pins the certificate of an https hub; ${server} is plain http (start the hub with --tls and use https://)`,
    );
  const pin = parseFingerprint(text);
  if (!pin)
    throw new CliError(
      `--fingerprint must be SHA256: and 43 base64 characters, as \`tandem server\` prints it (or 32 colon-separated hex bytes), not ${JSON.stringify(text)}`,
    );
  return pin;
}

/** The JSON document of a failure: `{ error: { code, message } }`, as the hub's. */
function errorDocument(error: unknown): unknown {
  const code =
    error instanceof TandemError
      ? error.code
      : error instanceof CliError
        ? 'BAD_REQUEST'
        : 'INTERNAL';
  return {
    error: {
      code,
      message: describeError(error),
      ...(error instanceof HubCertificateError && error.presented
        ? { fingerprint: error.presented }
        : {}),
    },
  };
}

export function normalizeServer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(
      `--server must be a URL like http://127.0.0.1:8080, not ${JSON.stringify(raw)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`--server must start with http:// or https://, not ${url.protocol}`);
  return url.origin;
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY)
    throw new CliError('--password-stdin expects the password piped on standard input');
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  const password = Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (password.length === 0) throw new CliError('the password read from standard input is empty');
  return password;
}

/**
 * `tandem register` and `tandem login`: create an account or sign in, and register this
 * device; with `--fingerprint`, accept the hub only with that certificate and pin it.
 * `tandem logout`, `tandem whoami` and `tandem password change`.
 */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { HttpTransport, HubClient } from '../../agent/hub-client.js';
import { HubCertificateError, hubTrust } from '../../agent/hub-trust.js';
import { parseFingerprint, type Fingerprint } from '../../core/fingerprint.js';
import { TandemError } from '../../protocol/errors.js';
import { formatSize } from '../../protocol/sizes.js';
import {
  forgetCredentials,
  requireConfig,
  saveConfig,
  trustFor,
  type DeviceConfig,
} from '../config.js';
import { CliError, describeError, jsonOption, printJson, printLine } from '../output.js';

/** A client of the hub this device is signed in to, with its token. */
export function hubClientFor(config: DeviceConfig): HubClient {
  return new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
}

interface AccountOptions {
  server: string;
  user: string;
  passwordStdin?: boolean;
  deviceName?: string;
  fingerprint?: string;
  invite?: string;
  json?: boolean;
}

export function registerAccountCommands(program: Command): void {
  for (const verb of ['register', 'login'] as const) {
    const command = program.command(verb);
    if (verb === 'register')
      command.option(
        '--invite <code>',
        'the one-time code of a hub that takes new accounts by invitation (`tandem admin invite` makes one)',
      );
    command
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
  registerSessionCommands(program);
}

/** `tandem logout`, `tandem whoami`, `tandem password change`. */
function registerSessionCommands(program: Command): void {
  program
    .command('logout')
    .description("revoke this device's token on the hub and forget it here")
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => logout(options.json === true));

  program
    .command('whoami')
    .description('show the user, this device, the hub and the storage used')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      const config = await requireConfig();
      const me = await hubClientFor(config).me();
      if (options.json) {
        printJson({ server: config.server, ...me });
        return;
      }
      printLine(`user     ${me.user.name}${me.user.admin ? ' (administrator of this hub)' : ''}`);
      printLine(`device   ${me.device.name} (${me.device.id})`);
      printLine(`hub      ${config.server}`);
      printLine(
        `storage  ${formatSize(me.storage.used)} of ${me.storage.quota === null ? 'no quota' : formatSize(me.storage.quota)}`,
      );
    });

  program
    .command('password')
    .description('manage your password')
    .command('change')
    .description(
      'change your password: the current one and the new one on standard input, one a line',
    )
    .option('--password-stdin', 'read the current and the new password from standard input')
    .addOption(jsonOption())
    .action(async (options: { passwordStdin?: boolean; json?: boolean }) => {
      if (!options.passwordStdin)
        throw new CliError(
          'pass the current and the new password on standard input, one a line, with --password-stdin, e.g. `printf "%s\\n%s\\n" "$OLD" "$NEW" | tandem password change --password-stdin`',
        );
      const config = await requireConfig();
      const lines = (await readStdin()).split(/\r?\n/);
      const [current, next] = lines;
      if (!current || !next || lines.slice(2).some((line) => line !== ''))
        throw new CliError(
          'expected two lines on standard input: the current password, then the new one',
        );
      await hubClientFor(config).changePassword(current, next);
      if (options.json) printJson({ server: config.server, user: config.user, changed: true });
      else
        process.stderr.write(
          `changed the password of ${config.user} on ${config.server}; your devices stay signed in (\`tandem device list\` shows them, \`tandem device revoke NAME\` ends one)\n`,
        );
    });
}

/**
 * Revokes this device's token on the hub, then forgets it locally whatever the hub said.
 * A hub that could not be told is a failure (exit 1), saying how to revoke from elsewhere.
 */
async function logout(json: boolean): Promise<void> {
  const config = await requireConfig();
  let notRevoked: unknown;
  try {
    await hubClientFor(config).revokeDevice(config.deviceId);
  } catch (error) {
    // A token the hub no longer takes is as revoked as it gets.
    const gone =
      error instanceof TandemError &&
      (error.code === 'DEVICE_REVOKED' || error.code === 'UNAUTHENTICATED');
    if (!gone) notRevoked = error;
  }
  const path = await forgetCredentials();
  const device = { id: config.deviceId, name: config.deviceName };
  if (notRevoked === undefined) {
    if (json)
      printJson({
        server: config.server,
        user: config.user,
        device,
        revoked: true,
        forgotten: true,
      });
    else
      process.stderr.write(
        `signed out of ${config.server}: this device's token is revoked on the hub and removed from ${path}\n`,
      );
    return;
  }
  const message = `forgot this device's credentials (removed from ${path}) but could not revoke its token on ${config.server} (${describeError(notRevoked)}); revoke it from another device with \`tandem device revoke ${config.deviceId}\``;
  if (json)
    printJson({
      server: config.server,
      user: config.user,
      device,
      revoked: false,
      forgotten: true,
      error: { code: notRevoked instanceof TandemError ? notRevoked.code : 'INTERNAL', message },
    });
  throw new CliError(message);
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
      verb === 'register'
        ? await client.register({
            ...credentials,
            ...(options.invite !== undefined ? { invite: options.invite.trim() } : {}),
          })
        : await client.login(credentials);
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

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new CliError('--password-stdin expects the password piped on standard input');
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function readPassword(): Promise<string> {
  const password = (await readStdin()).replace(/\r?\n$/, '');
  if (password.length === 0) throw new CliError('the password read from standard input is empty');
  return password;
}

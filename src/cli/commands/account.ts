/** `tandem register` and `tandem login`: create an account or sign in, and register this device. */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { HttpTransport, HubClient } from '../../agent/hub-client.js';
import { saveConfig } from '../config.js';
import { CliError, jsonOption, printJson } from '../output.js';

interface AccountOptions {
  server: string;
  user: string;
  passwordStdin?: boolean;
  deviceName?: string;
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
      .addOption(jsonOption())
      .action(async (options: AccountOptions) => {
        const server = normalizeServer(options.server);
        if (!options.passwordStdin)
          throw new CliError(
            'pass the password on standard input with --password-stdin, e.g. `echo "$PW" | tandem login ... --password-stdin`',
          );
        const password = await readPassword();
        const client = new HubClient(new HttpTransport(server));
        const credentials = {
          user: options.user,
          password,
          deviceName: options.deviceName ?? hostname(),
        };
        const auth =
          verb === 'register'
            ? await client.register(credentials)
            : await client.login(credentials);
        const path = await saveConfig({
          server,
          user: auth.user.name,
          userId: auth.user.id,
          deviceId: auth.device.id,
          deviceName: auth.device.name,
          token: auth.token,
        });
        if (options.json) printJson({ server, user: auth.user, device: auth.device, config: path });
        else
          process.stderr.write(
            `${verb === 'register' ? 'registered' : 'signed in'} as ${auth.user.name} on ${server}; this device is "${auth.device.name}" (credentials in ${path})\n`,
          );
      });
  }
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

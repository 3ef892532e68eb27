/**
 * The settings of `tandem server`, from four places, the first that has one winning: the
 * command line (`--port 9000`), the environment (`TANDEM_PORT=9000`), the file named by
 * `--config` (`port = 9000` in TOML, `{"port": 9000}` in JSON; the same names as the
 * flags), then the defaults. Paths in the file are relative to the file's folder; paths on
 * the command line and in the environment, to the current folder.
 *
 * Every wrong value is refused with one line saying where it came from (the flag, the
 * variable, or the file and key), what is wrong and what it was.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { REGISTRATION_MODES, type RegistrationMode } from '../protocol/api.js';
import { CliError } from './output.js';

export const LOG_LEVEL_NAMES = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

/** Every setting: its name (the flag without `--`, the key in the file) and its kind. */
const SETTINGS = {
  data: 'path',
  host: 'text',
  port: 'port',
  tls: 'switch',
  'tls-cert': 'path',
  'tls-key': 'path',
  'log-level': 'level',
  'metrics-host': 'text',
  'metrics-port': 'port',
  registration: 'registration',
} as const;
export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export interface ServerSettings {
  readonly data: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly 'tls-cert'?: string;
  readonly 'tls-key'?: string;
  readonly 'log-level': LogLevelName;
  /** Where `/metrics` is also served without a token (ops/metrics-listener.ts); off without. */
  readonly 'metrics-port'?: number;
  readonly 'metrics-host': string;
  /** Who may create an account (see RegistrationMode). */
  readonly registration: RegistrationMode;
}

const DEFAULTS = {
  data: './tandem-data',
  host: '127.0.0.1',
  port: 8080,
  tls: false,
  'log-level': 'info',
  'metrics-host': '127.0.0.1',
  registration: 'open',
} as const satisfies Partial<ServerSettings>;

/** `tls-cert` -> `TANDEM_TLS_CERT`. */
export const envName = (name: SettingName) => `TANDEM_${name.toUpperCase().replace(/-/g, '_')}`;

/** What the command line gave: only the options a person typed (not commander's defaults). */
export type GivenFlags = Partial<Record<SettingName, string | boolean>>;

/**
 * The settings, resolved. Throws a CliError (one line) for an unreadable or malformed file,
 * an unknown key in it, or a value of the wrong kind from any place.
 */
export async function resolveServerSettings(
  flags: GivenFlags,
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): Promise<ServerSettings> {
  const file = configFile === undefined ? {} : await readSettingsFile(resolve(configFile));
  const out: Record<string, unknown> = { ...DEFAULTS, data: resolve(DEFAULTS.data) };
  for (const name of SETTING_NAMES) {
    const flag = flags[name];
    const variable = env[envName(name)];
    if (flag !== undefined) out[name] = valueOf(name, flag, `--${name}`, process.cwd());
    else if (variable !== undefined && variable !== '')
      out[name] = valueOf(name, variable, envName(name), process.cwd());
    else if (name in file) out[name] = file[name];
  }
  return out as unknown as ServerSettings;
}

/** A settings file's values, checked, with its paths made absolute. */
async function readSettingsFile(file: string): Promise<Partial<Record<SettingName, unknown>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${file}: no such file (--config names the hub's settings file, TOML or JSON)`
        : `${file}: cannot read it: ${(error as Error).message}`,
    );
  }
  const toml = extname(file).toLowerCase() === '.toml';
  let parsed: unknown;
  try {
    parsed = toml ? (await import('smol-toml')).parse(text) : JSON.parse(text);
  } catch (error) {
    const { line, column } = error as { line?: number; column?: number };
    const first = (error as Error).message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new CliError(
      `${file}: not valid ${toml ? 'TOML' : 'JSON'}: ${first}${line !== undefined ? ` (line ${line}, column ${column ?? 0})` : ''}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`${file}: must hold a table of settings, such as {"port": 8080}`);
  const out: Partial<Record<SettingName, unknown>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in SETTINGS))
      throw new CliError(
        `${file}: unknown setting "${key}" (the settings are ${SETTING_NAMES.join(', ')})`,
      );
    out[key as SettingName] = valueOf(
      key as SettingName,
      value,
      `${file}: "${key}"`,
      dirname(file),
    );
  }
  return out;
}

/** One setting's value from anywhere, checked; `from` names the place in the message. */
function valueOf(name: SettingName, value: unknown, from: string, base: string): unknown {
  const shown = JSON.stringify(value);
  switch (SETTINGS[name]) {
    case 'path':
    case 'text':
      if (typeof value !== 'string' || value.trim() === '')
        throw new CliError(
          `${from} must be ${SETTINGS[name] === 'path' ? 'a path' : 'text'}, not ${shown}`,
        );
      return SETTINGS[name] === 'path' ? resolve(base, value) : value;
    case 'port': {
      const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`${from} must be a number from 0 to 65535, not ${shown}`);
      return port;
    }
    case 'switch': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true;
      if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false;
      throw new CliError(`${from} must be true or false, not ${shown}`);
    }
    case 'level':
      if (typeof value !== 'string' || !(LOG_LEVEL_NAMES as readonly string[]).includes(value))
        throw new CliError(`${from} must be one of ${LOG_LEVEL_NAMES.join(', ')}, not ${shown}`);
      return value;
    case 'registration':
      if (typeof value !== 'string' || !(REGISTRATION_MODES as readonly string[]).includes(value))
        throw new CliError(`${from} must be ${REGISTRATION_MODES.join(', ')}, not ${shown}`);
      return value;
  }
}

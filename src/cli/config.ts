/**
 * The device's credentials: `$TANDEM_HOME/config.json` (default `~/.config/tandem`), mode
 * 0600 in a 0700 folder, since it holds the device token.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_DELETION_LIMITS,
  MIN_MAX_FILES,
  type DeletionLimits,
} from '../agent/deletion-guard.js';
import { hubTrust, type HubTrust } from '../agent/hub-trust.js';
import { parseFingerprint } from '../core/fingerprint.js';
import { CliError } from './output.js';

export interface DeviceConfig {
  readonly server: string;
  readonly user: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly deviceName: string;
  readonly token: string;
  /**
   * The hub's certificate fingerprint pinned by `login --fingerprint` (`SHA256:<base64>`):
   * then only that certificate is accepted. Absent (and in configs older than TLS): the
   * system's CAs decide.
   */
  readonly fingerprint?: string;
  /**
   * The mass-deletion guard's limits for this device's folders (see DeletionGuard): hold a
   * round's local deletions when more than `maxDeletions` files (default 500), or more than
   * `maxDeletionPercent` percent of the files of the tree or of a top-level folder (default
   * 50; 100: never by share), would go at once. Set by hand; `tandem sync --max-deletions`
   * and `--max-deletion-percent` override them for one run.
   */
  readonly maxDeletions?: number;
  readonly maxDeletionPercent?: number;
}

export function tandemHome(): string {
  return process.env.TANDEM_HOME || join(homedir(), '.config', 'tandem');
}

function configPath(): string {
  return join(tandemHome(), 'config.json');
}

/** The settings a config keeps when its device signs out (`tandem logout`). */
const SETTINGS = ['maxDeletions', 'maxDeletionPercent'] as const;

/** The config file as it is, credentials or not; undefined when there is none. */
async function readRaw(): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The device's credentials; undefined when it never signed in or signed out. */
export async function loadConfig(): Promise<DeviceConfig | undefined> {
  try {
    const raw = await readRaw();
    return raw !== undefined && typeof raw.token === 'string'
      ? (raw as unknown as DeviceConfig)
      : undefined;
  } catch (error) {
    throw new CliError(
      `cannot read ${configPath()}: ${(error as Error).message}; fix or delete it and run \`tandem login\``,
    );
  }
}

/** The stored credentials, or a CliError telling the person to sign in. */
export async function requireConfig(): Promise<DeviceConfig> {
  const config = await loadConfig();
  if (!config) {
    throw new CliError(
      `this device is not signed in (no ${configPath()}): run \`tandem register\` or \`tandem login --server URL --user NAME --password-stdin\``,
    );
  }
  return config;
}

/**
 * Writes atomically with mode 0600, keeping the settings of the file it replaces (a config
 * signed out and in again keeps its deletion limits).
 */
export async function saveConfig(config: DeviceConfig): Promise<string> {
  const old = await readRaw().catch(() => undefined);
  const kept = Object.fromEntries(
    SETTINGS.filter((k) => old?.[k] !== undefined).map((k) => [k, old![k]]),
  );
  return writeConfig({ ...kept, ...config });
}

/**
 * Removes the device's credentials from the config (keeping only its settings, or the
 * file not at all when it has none). Returns the file's path.
 */
export async function forgetCredentials(): Promise<string> {
  const old = await readRaw().catch(() => undefined);
  const kept = Object.fromEntries(
    SETTINGS.filter((k) => old?.[k] !== undefined).map((k) => [k, old![k]]),
  );
  if (Object.keys(kept).length > 0) return writeConfig(kept);
  await rm(configPath(), { force: true });
  return configPath();
}

async function writeConfig(config: object): Promise<string> {
  const home = tandemHome();
  await mkdir(home, { recursive: true, mode: 0o700 });
  const target = configPath();
  const temp = `${target}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, target);
  return target;
}

/**
 * How this device checks the certificate of `hub` (default: the hub it is signed in to): the
 * pinned fingerprint for that hub, the system's CAs for any other. Throws a CliError when the
 * stored fingerprint is not one (a hand-edited config).
 */
export function trustFor(config: DeviceConfig, hub: string = config.server): HubTrust {
  if (config.fingerprint === undefined || hub !== config.server) return hubTrust(hub);
  const pin = parseFingerprint(config.fingerprint);
  if (!pin)
    throw new CliError(
      `the fingerprint in ${configPath()} is not valid (${JSON.stringify(config.fingerprint)}): run \`tandem login --server ${config.server} --fingerprint SHA256:...\` again`,
    );
  return hubTrust(hub, pin);
}

/**
 * The mass-deletion guard's limits: the command line's, else the config file's, else the
 * defaults. Throws a CliError for a value out of range (at least MIN_MAX_FILES files; a
 * percentage above 0 and at most 100), naming where it came from.
 */
export function deletionLimits(
  config: Pick<DeviceConfig, 'maxDeletions' | 'maxDeletionPercent'>,
  options: { maxDeletions?: string; maxDeletionPercent?: string },
): DeletionLimits {
  const pick = (
    flag: string,
    key: string,
    given: string | undefined,
    stored: number | undefined,
  ): { value: number; from: string } | undefined => {
    if (given !== undefined)
      return { value: given.trim() === '' ? NaN : Number(given), from: flag };
    if (stored !== undefined) return { value: Number(stored), from: `"${key}" in ${configPath()}` };
    return undefined;
  };
  const files = pick('--max-deletions', 'maxDeletions', options.maxDeletions, config.maxDeletions);
  if (files && (!Number.isSafeInteger(files.value) || files.value < MIN_MAX_FILES))
    throw new CliError(
      `${files.from} must be a whole number of files, at least ${MIN_MAX_FILES} (default ${DEFAULT_DELETION_LIMITS.maxFiles})`,
    );
  const share = pick(
    '--max-deletion-percent',
    'maxDeletionPercent',
    options.maxDeletionPercent,
    config.maxDeletionPercent,
  );
  if (share && (!Number.isFinite(share.value) || share.value <= 0 || share.value > 100))
    throw new CliError(
      `${share.from} must be a percentage above 0 and at most 100 (default ${DEFAULT_DELETION_LIMITS.maxShare * 100})`,
    );
  return {
    maxFiles: files?.value ?? DEFAULT_DELETION_LIMITS.maxFiles,
    maxShare: share ? share.value / 100 : DEFAULT_DELETION_LIMITS.maxShare,
  };
}

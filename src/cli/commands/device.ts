/**
 * `tandem device list` and `tandem device revoke NAME|ID`: the user's devices, and ending one
 * (its token stops at once, its sockets close, its agents stop saying so).
 */
import type { Command } from 'commander';
import type { DeviceInfo } from '../../protocol/api.js';
import { requireConfig } from '../config.js';
import { CliError, jsonOption, printJson, printLine, table } from '../output.js';
import { hubClientFor } from './account.js';

export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('list and revoke your devices');

  device
    .command('list')
    .description(
      'list your devices with when and from where they were last seen, and their release (* marks this one)',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      const config = await requireConfig();
      const devices = await hubClientFor(config).devices();
      if (options.json) {
        printJson({ server: config.server, devices: devices.map(jsonOf) });
        return;
      }
      const now = Date.now();
      printLine(
        table([
          ['', 'NAME', 'ID', 'LAST SEEN', 'ADDRESS', 'VERSION', 'STATUS'],
          ...devices.map((d) => [
            d.current ? '*' : '',
            d.name,
            d.id,
            d.lastSeenAt === null ? '-' : ago(now - d.lastSeenAt),
            d.address ?? '-',
            d.version ?? '-',
            d.revoked ? 'revoked' : 'active',
          ]),
        ]),
      );
    });

  device
    .command('revoke')
    .description('revoke one of your devices: its token stops working at once and its agents stop')
    .argument('<device>', 'the device name (as `tandem device list` shows it) or id')
    .addOption(jsonOption())
    .action(async (which: string, options: { json?: boolean }) => {
      const config = await requireConfig();
      const client = hubClientFor(config);
      const target = pick(await client.devices(), which);
      if (target.current)
        throw new CliError(
          `"${target.name}" is this device: run \`tandem logout\` to revoke it and forget its credentials`,
        );
      await client.revokeDevice(target.id);
      if (options.json) printJson({ server: config.server, revoked: jsonOf(target) });
      else
        process.stderr.write(
          `revoked device "${target.name}" (${target.id}): its token no longer works, and its agents stop\n`,
        );
    });
}

/** The active device of that id or name; a CliError when none is, or the name is ambiguous. */
function pick(devices: readonly DeviceInfo[], which: string): DeviceInfo {
  const byId = devices.find((d) => d.id === which);
  if (byId) {
    if (byId.revoked) throw new CliError(`device ${which} is already revoked`);
    return byId;
  }
  const named = devices.filter((d) => d.name === which && !d.revoked);
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw new CliError(
      `${named.length} devices are called "${which}" (${named.map((d) => d.id).join(', ')}): revoke one by its id`,
    );
  const active = devices.filter((d) => !d.revoked).map((d) => d.name);
  throw new CliError(
    `no active device "${which}" (yours: ${active.join(', ') || 'none'}); see \`tandem device list\``,
  );
}

function jsonOf(d: DeviceInfo) {
  return {
    ...d,
    createdAt: new Date(d.createdAt).toISOString(),
    lastSeenAt: d.lastSeenAt === null ? null : new Date(d.lastSeenAt).toISOString(),
  };
}

/** "just now", "5 min ago", "3 h ago", "12 days ago". */
function ago(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

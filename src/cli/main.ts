/**
 * The `tandem` command. The only place that wires hub, agent, storage and output together.
 * Conventions (gh, kubectl, rclone): `--help` everywhere, `--json` on everything that lists
 * or reports, progress on stderr, exit 0 only on success, one line on stderr on failure.
 */
import { Command, CommanderError } from 'commander';
import { TANDEM_VERSION } from '../protocol/api.js';
import { registerAccountCommands } from './commands/account.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerDeviceCommands } from './commands/device.js';
import { registerServerCommand } from './commands/server.js';
import { registerStatusCommands } from './commands/status.js';
import { registerSyncCommand } from './commands/sync.js';
import { registerWorkspaceCommands } from './commands/workspace.js';
import { fail, printJson } from './output.js';

export const VERSION = TANDEM_VERSION;

export function buildProgram(): Command {
  const program = new Command('tandem')
    .description(
      'Self-hosted, real-time folder sync: a hub that keeps every version, agents that keep folders identical.',
    )
    .version(VERSION)
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      // Commander's own errors (unknown option, missing argument) are one line like ours.
      outputError: (text, write) =>
        write(`tandem: ${text.replace(/^error: /, '').trimEnd()} (run with --help for usage)\n`),
    })
    .exitOverride();
  registerServerCommand(program);
  registerAccountCommands(program);
  registerDeviceCommands(program);
  registerAdminCommands(program);
  registerWorkspaceCommands(program);
  registerSyncCommand(program);
  registerStatusCommands(program);
  return program;
}

// Output piped into a reader that stops early (`tandem status DIR | head`): the rest of it
// has nobody to read it, which is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const json = argv.includes('--json');
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help/version text).
      process.exitCode = error.exitCode;
      if (json && error.exitCode !== 0 && !error.code.startsWith('commander.help'))
        printJson({ error: { code: 'USAGE', message: error.message.replace(/^error: /, '') } });
      return;
    }
    fail(error, json);
  }
}

await main(process.argv);

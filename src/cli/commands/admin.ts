/** `tandem admin invite`: what a hub's administrator does from the command line. */
import type { Command } from 'commander';
import { requireConfig } from '../config.js';
import { jsonOption, printJson, printLine } from '../output.js';
import { hubClientFor } from './account.js';

export function registerAdminCommands(program: Command): void {
  const admin = program
    .command('admin')
    .description('administer the hub (its administrators only)');

  admin
    .command('invite')
    .description(
      'make a one-time code with which one person may register on a hub started with --registration invite (valid 7 days)',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      const config = await requireConfig();
      const invite = await hubClientFor(config).createInvite();
      const expiresAt = new Date(invite.expiresAt).toISOString();
      if (options.json) {
        printJson({ server: config.server, code: invite.code, expiresAt });
        return;
      }
      printLine(invite.code);
      process.stderr.write(
        `one person may register with it until ${expiresAt}: tandem register --server ${config.server} --invite ${invite.code} --user NAME --password-stdin\n`,
      );
    });
}

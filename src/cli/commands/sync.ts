/**
 * `tandem sync DIR`: links DIR to a workspace on first use, then keeps it in sync until
 * Ctrl-C (or, with --once, until DIR and the hub agree).
 */
import type { Command } from 'commander';
import { jsonOption } from '../output.js';
import type { SyncOptions } from './sync-action.js';

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('keep DIR identical to a workspace on the hub (links it on first use)')
    .argument('<dir>', 'the folder to sync (created if missing)')
    .option('--workspace <name>', 'the workspace to link DIR to (needed the first time)')
    .option('--once', 'sync until DIR and the hub agree, then exit')
    .option('--quiet', 'do not log each file on stderr')
    .option(
      '--notify',
      'show desktop notifications (notify-send) when files arrive, a conflict is made, or a workspace is shared with you',
    )
    .option(
      '--confirm-deletions',
      'send the local deletions held as too many at once (see `tandem status DIR`), then exit',
    )
    .option(
      '--restore-held',
      'bring the files whose deletion is held back from the hub instead, then exit',
    )
    .option(
      '--max-deletions <n>',
      'hold local deletions of more than N files at once for confirmation (default 500)',
    )
    .option(
      '--max-deletion-percent <p>',
      'hold them too when more than P% of the files of the folder or of a top-level folder would go (default 50)',
    )
    .addOption(jsonOption())
    .action(async (dir: string, options: SyncOptions) => {
      const { runSync } = await import('./sync-action.js');
      await runSync(dir, options);
    });
}

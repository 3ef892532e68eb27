/** `tandem admin invite|users|disable|enable|reset-password|quota`: what a hub's administrator does from the command line. */
import type { Command } from 'commander';
import { requireConfig } from '../config.js';
import { formatSize, parseSize } from '../../protocol/sizes.js';
import { CliError, jsonOption, printJson, printLine, table } from '../output.js';
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

  admin
    .command('users')
    .description(
      "list the hub's users: administrator or not, disabled or not, active devices, storage used (current files of the workspaces they own) and quota",
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      const config = await requireConfig();
      const users = await hubClientFor(config).adminUsers();
      if (options.json) {
        printJson({ server: config.server, users });
        return;
      }
      printLine(
        table([
          ['USER', 'ADMIN', 'STATUS', 'DEVICES', 'USED', 'QUOTA'],
          ...users.map((u) => [
            u.name,
            u.admin ? 'yes' : 'no',
            u.disabled ? 'disabled' : 'active',
            String(u.devices),
            formatSize(u.storage.used),
            u.storage.quota === null ? 'none' : formatSize(u.storage.quota),
          ]),
        ]),
      );
    });

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const)
    admin
      .command(action)
      .description(
        disabled
          ? 'disable an account: its tokens are refused at once and its agents stop; its devices, workspaces and files are kept'
          : 'enable a disabled account again: its devices work again with the tokens they have',
      )
      .argument('<user>', 'the user name')
      .addOption(jsonOption())
      .action(async (name: string, options: { json?: boolean }) => {
        const config = await requireConfig();
        const user = await hubClientFor(config).setUserDisabled(name, disabled);
        if (options.json) {
          printJson({ server: config.server, user });
          return;
        }
        process.stderr.write(
          disabled
            ? `disabled ${user.name}: their tokens are refused and their agents stop; their files are kept (tandem admin enable ${user.name} to undo)\n`
            : `enabled ${user.name}: their devices work again\n`,
        );
      });

  admin
    .command('reset-password')
    .description(
      'give a user a new random password, printed once on stdout, for you to hand over: their old one stops working, their devices stay signed in; they should change it with `tandem password change`',
    )
    .argument('<user>', 'the user name')
    .addOption(jsonOption())
    .action(async (name: string, options: { json?: boolean }) => {
      const config = await requireConfig();
      const reset = await hubClientFor(config).resetPassword(name);
      if (options.json) {
        printJson({ server: config.server, user: reset.user, password: reset.password });
        return;
      }
      printLine(reset.password);
      process.stderr.write(
        `the new password of ${reset.user}, shown only now: hand it over, and have them change it with \`tandem password change --password-stdin\`\n`,
      );
    });

  admin
    .command('quota')
    .description(
      "set a user's storage quota (the current files of the workspaces they own), or with --default the quota of users without one of their own: SIZE (10GiB, 500MB), none, or for a user default",
    )
    .argument('[user]', 'the user name (not with --default)')
    .argument('[size]', 'SIZE, none, or (for a user) default')
    .option('--default', "set the hub's default quota instead")
    .addOption(jsonOption())
    .action(
      async (
        first: string | undefined,
        second: string | undefined,
        options: { default?: boolean; json?: boolean },
      ) => {
        const config = await requireConfig();
        const client = hubClientFor(config);
        const [user, text] = second === undefined ? [undefined, first] : [first, second];
        if (text === undefined) throw new CliError('say the quota: SIZE (10GiB, 500MB) or none');
        const bytes = text === 'none' || text === 'default' ? text : parseSize(text);
        if (bytes === undefined)
          throw new CliError(`not a size: ${text} (say 10GiB, 500MB, 2TB, or none)`);
        if (options.default) {
          if (user !== undefined) throw new CliError('--default takes no user name');
          if (bytes === 'default') throw new CliError('the default quota is a SIZE or none');
          await client.setDefaultQuota(bytes === 'none' ? null : bytes);
        } else {
          if (user === undefined) throw new CliError('name the user, or pass --default');
          await client.setUserQuota(user, bytes);
        }
        const what = options.default ? 'the default quota' : `the quota of ${user}`;
        if (options.json) {
          printJson({
            server: config.server,
            user: user ?? null,
            quota: bytes === 'none' ? null : bytes,
          });
          return;
        }
        process.stderr.write(
          `${what} is now ${typeof bytes === 'number' ? formatSize(bytes) : bytes}\n`,
        );
      },
    );
}

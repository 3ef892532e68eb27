/** `tandem workspace create|list|share|unshare|members|leave|rename|delete`. */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { HttpTransport, HubClient } from '../../agent/hub-client.js';
import { ROLES, type Role, type WorkspaceInfo } from '../../protocol/api.js';
import { formatSize } from '../../protocol/sizes.js';
import { requireConfig, trustFor, type DeviceConfig } from '../config.js';
import { CliError, jsonOption, printJson, printLine, table } from '../output.js';

export function clientFor(config: DeviceConfig): HubClient {
  return new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
}

/**
 * Finds a workspace the user can see by name, `OWNER/NAME` (names hold no '/'; OWNER as
 * `workspace list` shows it), or id. A name that two visible workspaces share (one's own and
 * one shared by someone else) is refused with the `OWNER/NAME` of each.
 */
export async function resolveWorkspace(client: HubClient, name: string): Promise<WorkspaceInfo> {
  const all = await client.listWorkspaces();
  const slash = name.indexOf('/');
  const [ownerPart, namePart] = [name.slice(0, slash), name.slice(slash + 1)];
  // OWNER is the owner `list` shows; failing that, any of its owners.
  const byOwner = (shown: boolean) =>
    all.filter(
      (w) =>
        w.name === namePart &&
        (shown ? w.owner === ownerPart : (w.owners ?? [w.owner]).includes(ownerPart)),
    );
  const named =
    slash > 0
      ? byOwner(true).length > 0
        ? byOwner(true)
        : byOwner(false)
      : all.filter((w) => w.name === name);
  if (named.length > 1)
    throw new CliError(
      `${named.length} of your workspaces are named "${name}": say which, as ${named.map((w) => `${w.owner}/${w.name}`).join(' or ')}`,
    );
  const found = named[0] ?? all.find((w) => w.id === name);
  if (!found) {
    const names = all.map((w) => w.name).join(', ');
    throw new CliError(
      `no workspace named "${name}" on this hub (${names ? `yours: ${names}` : 'you have none yet'}); create it with \`tandem workspace create ${name}\``,
    );
  }
  return found;
}

/** A role from the command line, or a CliError naming the three. */
function roleOf(raw: string): Role {
  if (!(ROLES as readonly string[]).includes(raw))
    throw new CliError(`--role must be owner, editor or viewer, not ${raw}`);
  return raw as Role;
}

/** One line read from standard input (a terminal or a pipe), after `question` on stderr. */
async function ask(question: string): Promise<string> {
  process.stderr.write(question);
  const lines = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of lines) return line.trim();
    return '';
  } finally {
    lines.close();
  }
}

export function registerWorkspaceCommands(program: Command): void {
  const workspace = program
    .command('workspace')
    .description('create, list, share, rename and delete workspaces (synced trees)');

  workspace
    .command('create')
    .description('create a workspace you own')
    .argument('<name>', 'workspace name')
    .addOption(jsonOption())
    .action(async (name: string, options: { json?: boolean }) => {
      const created = await clientFor(await requireConfig()).createWorkspace(name);
      if (options.json) printJson(created);
      else
        process.stderr.write(
          `created workspace "${created.name}"; link a folder with \`tandem sync DIR --workspace ${created.name}\`\n`,
        );
    });

  workspace
    .command('list')
    .description('list your own and shared workspaces, with your role, size and last change')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      const all = await clientFor(await requireConfig()).listWorkspaces();
      if (options.json) {
        printJson({ workspaces: all });
        return;
      }
      if (all.length === 0) {
        process.stderr.write('no workspaces yet; create one with `tandem workspace create NAME`\n');
        return;
      }
      printLine(
        table([
          ['NAME', 'ROLE', 'OWNER', 'SIZE', 'LAST CHANGE'],
          ...all.map((w) => [
            w.name,
            w.role,
            w.owner,
            w.size === undefined ? '-' : formatSize(w.size),
            typeof w.changed === 'number'
              ? new Date(w.changed).toISOString().slice(0, 19).replace('T', ' ')
              : 'never',
          ]),
        ]),
      );
    });

  workspace
    .command('share')
    .description('give a user access to a workspace you own, or change their role')
    .argument('<name>', 'workspace name')
    .argument('[user]', 'who gets access')
    .option('--user <user>', 'who gets access (the same as the second argument)')
    .option('--role <role>', 'owner, editor or viewer', 'editor')
    .addHelpText(
      'after',
      '\nRoles: a viewer reads and syncs down only; an editor also writes; an owner also manages\nmembers, renames and deletes. A workspace always keeps at least one owner.',
    )
    .action(
      async (
        name: string,
        positional: string | undefined,
        options: { user?: string; role: string },
      ) => {
        if (positional !== undefined && options.user !== undefined && positional !== options.user)
          throw new CliError(
            `two users given (${positional} and --user ${options.user}): give one`,
          );
        const user = positional ?? options.user;
        if (user === undefined)
          throw new CliError('say who gets access: `tandem workspace share NAME USER --role R`');
        const role = roleOf(options.role);
        const client = clientFor(await requireConfig());
        const ws = await resolveWorkspace(client, name);
        await client.setMember(ws.id, user, role);
        process.stderr.write(`${user} is now ${role} of "${ws.name}"\n`);
      },
    );

  workspace
    .command('unshare')
    .description("take a user's access to a workspace you own away")
    .argument('<name>', 'workspace name')
    .argument('<user>', 'whose access ends')
    .action(async (name: string, user: string) => {
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, name);
      await client.removeMember(ws.id, user);
      process.stderr.write(
        `${user} no longer has access to "${ws.name}" (their running agents stop syncing it)\n`,
      );
    });

  workspace
    .command('members')
    .description('list who has access to a workspace, and with which role')
    .argument('<name>', 'workspace name')
    .addOption(jsonOption())
    .action(async (name: string, options: { json?: boolean }) => {
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, name);
      const members = await client.members(ws.id);
      if (options.json) {
        printJson({ workspace: ws.name, members });
        return;
      }
      printLine(table([['USER', 'ROLE'], ...members.map((m) => [m.user, m.role])]));
    });

  workspace
    .command('leave')
    .description('give up your own access to a workspace shared with you')
    .argument('<name>', 'workspace name')
    .action(async (name: string) => {
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, name);
      await client.leave(ws.id);
      process.stderr.write(`you left "${ws.name}"\n`);
    });

  workspace
    .command('rename')
    .description('rename a workspace you own (linked folders keep syncing)')
    .argument('<old>', 'its name now')
    .argument('<new>', 'its new name')
    .action(async (old: string, name: string) => {
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, old);
      await client.renameWorkspace(ws.id, name);
      process.stderr.write(`renamed "${ws.name}" to "${name}"\n`);
    });

  workspace
    .command('delete')
    .description('delete a workspace you own, with its history, for every member')
    .argument('<name>', 'workspace name')
    .option('--confirm <name>', 'the name again, instead of typing it when asked')
    .action(async (name: string, options: { confirm?: string }) => {
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, name);
      // (Refused before the question: asking for a name only to refuse it wastes the answer.)
      if (ws.role !== 'owner')
        throw new CliError(
          `you do not have owner access to "${ws.name}" (you are its ${ws.role}): only an owner may delete it`,
        );
      const typed =
        options.confirm ??
        (await ask(
          `This deletes "${ws.name}" and its whole history for every member. Type its name to confirm: `,
        ));
      if (typed !== ws.name)
        throw new CliError(
          `not deleted: the name given to confirm (${JSON.stringify(typed)}) is not "${ws.name}"; type it exactly, or pass --confirm ${ws.name}`,
        );
      await client.deleteWorkspace(ws.id);
      process.stderr.write(
        `deleted "${ws.name}"; folders linked to it stop syncing and keep their files\n`,
      );
    });
}

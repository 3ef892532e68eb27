/** `tandem workspace create|list|share`. */
import type { Command } from 'commander';
import { HttpTransport, HubClient } from '../../agent/hub-client.js';
import type { WorkspaceInfo } from '../../protocol/api.js';
import { requireConfig, trustFor, type DeviceConfig } from '../config.js';
import { CliError, jsonOption, printJson, printLine, table } from '../output.js';

export function clientFor(config: DeviceConfig): HubClient {
  return new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
}

/** Finds a workspace the user can see by name (or id). */
export async function resolveWorkspace(client: HubClient, name: string): Promise<WorkspaceInfo> {
  const all = await client.listWorkspaces();
  const found = all.find((w) => w.name === name) ?? all.find((w) => w.id === name);
  if (!found) {
    const names = all.map((w) => w.name).join(', ');
    throw new CliError(
      `no workspace named "${name}" on this hub (${names ? `yours: ${names}` : 'you have none yet'}); create it with \`tandem workspace create ${name}\``,
    );
  }
  return found;
}

export function registerWorkspaceCommands(program: Command): void {
  const workspace = program
    .command('workspace')
    .description('create, list and share workspaces (synced trees)');

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
    .description('list the workspaces you can see')
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
          ['NAME', 'ROLE', 'OWNER', 'SEQ'],
          ...all.map((w) => [w.name, w.role, w.owner, String(w.head)]),
        ]),
      );
    });

  workspace
    .command('share')
    .description('give another user access to a workspace you own')
    .argument('<name>', 'workspace name')
    .requiredOption('--user <user>', 'who gets access')
    .option('--role <role>', 'owner, editor or viewer', 'editor')
    .action(async (name: string, options: { user: string; role: string }) => {
      if (!['owner', 'editor', 'viewer'].includes(options.role))
        throw new CliError(`--role must be owner, editor or viewer, not ${options.role}`);
      const client = clientFor(await requireConfig());
      const ws = await resolveWorkspace(client, name);
      await client.setMember(ws.id, options.user, options.role);
      process.stderr.write(`${options.user} is now ${options.role} of "${ws.name}"\n`);
    });
}

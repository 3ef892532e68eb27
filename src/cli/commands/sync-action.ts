/**
 * What `tandem sync DIR` does (loaded only when it runs): link DIR on first use, then sync
 * until Ctrl-C, or with --once until DIR and the hub agree.
 */
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SyncEngine, SyncHalted } from '../../agent/engine.js';
import { isLinked, lockFolder, openFolderState, otherLink } from '../../agent/folder.js';
import { HubClient, HttpTransport } from '../../agent/hub-client.js';
import { SyncRunner } from '../../agent/runner.js';
import { StateVersionError, type StateStore } from '../../agent/state-store.js';
import { NodeFileSystem } from '../../fs/node-file-system.js';
import { TandemError } from '../../protocol/errors.js';
import { requireConfig, trustFor, type DeviceConfig } from '../config.js';
import { CliError, printJson, progress } from '../output.js';
import { resolveWorkspace } from './workspace.js';

export interface SyncOptions {
  workspace?: string;
  once?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export async function runSync(dir: string, options: SyncOptions): Promise<void> {
  const root = resolve(dir);
  const config = await requireConfig();
  const store = await linkFolder(root, config, options.workspace).catch((error: unknown) => {
    // (A database of a newer Tandem: say so in one line, as for any other refusal.)
    throw error instanceof StateVersionError ? new CliError(error.message) : error;
  });
  const lock = await lockFolder(root);
  if ('heldBy' in lock) {
    store.close();
    throw new CliError(`another tandem sync (pid ${lock.heldBy}) is already syncing ${root}`);
  }
  const log = options.quiet ? () => {} : progress;
  const link = store.link!;
  const engine = new SyncEngine({
    fs: new NodeFileSystem(),
    root,
    store,
    client: new HubClient(new HttpTransport(link.hub, trustFor(config, link.hub)), config.token),
    workspaceId: link.workspaceId,
    deviceName: config.deviceName,
    log,
    // Asked for explicitly, so traced even with --quiet.
    ...(process.env.TANDEM_TRACE === '1' ? { trace: traceLine } : {}),
  });
  try {
    await engine.prepare();
    if (options.once) await syncOnce(engine, root, link.workspaceName, options.json ?? false);
    else await syncForever(engine, root, config, link.workspaceId, link.workspaceName, log);
  } finally {
    store.close();
    await lock.release();
  }
}

/** Opens DIR's state, linking it to the workspace when it is not linked yet. */
async function linkFolder(
  root: string,
  config: DeviceConfig,
  workspaceName: string | undefined,
): Promise<StateStore> {
  let exists = true;
  try {
    const info = await stat(root);
    if (!info.isDirectory()) throw new CliError(`${root} is not a folder`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    exists = false; // made once the link is known to work, not before
  }
  if (exists && (await isLinked(root))) {
    const store = await openFolderState(root, false);
    const link = store.link;
    if (!link) {
      store.close();
      throw new CliError(
        `${root}/.tandem is incomplete (an interrupted first sync?): remove ${root}/.tandem and run \`tandem sync ${root} --workspace NAME\` again`,
      );
    }
    if (
      workspaceName !== undefined &&
      workspaceName !== link.workspaceName &&
      workspaceName !== link.workspaceId
    ) {
      store.close();
      throw new CliError(
        `${root} is linked to workspace "${link.workspaceName}", not "${workspaceName}": sync another folder, or drop --workspace`,
      );
    }
    if (link.hub !== config.server) {
      store.close();
      throw new CliError(
        `${root} is linked to the hub ${link.hub}, but this device is signed in to ${config.server}: run \`tandem login --server ${link.hub} ...\``,
      );
    }
    return store;
  }
  if (workspaceName === undefined) {
    throw new CliError(
      `${root} is not linked to a workspace yet${exists ? '' : ' (nor created: it is made once linked)'}: run \`tandem sync ${root} --workspace NAME\` (see \`tandem workspace list\`)`,
    );
  }
  const nested = await otherLink(root);
  if (nested) throw new CliError(nested);
  const client = new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
  const workspace = await resolveWorkspace(client, workspaceName);
  if (!exists) await mkdir(root, { recursive: true });
  const store = await openFolderState(root, true);
  store.setLink({
    hub: config.server,
    workspaceId: workspace.id,
    workspaceName: workspace.name,
    deviceId: config.deviceId,
  });
  process.stderr.write(`linked ${root} to workspace "${workspace.name}" on ${config.server}\n`);
  return store;
}

async function syncOnce(
  engine: SyncEngine,
  root: string,
  workspaceName: string,
  json: boolean,
): Promise<void> {
  let result;
  try {
    result = await engine.syncUntilIdle(100, 5_000);
  } catch (error) {
    if (error instanceof SyncHalted) throw new CliError(error.message, 2);
    throw error;
  }
  // The problems still standing (the feed's, and changes that failed and wait for a retry),
  // and those of the last scan: a folder with any has not settled.
  const stored = [...engine.store.problems].map(([path, p]) => ({
    path,
    message: p.message,
    since: p.since,
  }));
  const seen = new Set(stored.map((p) => `${p.path}\u0000${p.message}`));
  const problems = [
    ...stored,
    ...result.scanProblems
      .filter((p) => !seen.has(`${p.path}\u0000${p.message}`))
      .map((p) => ({ ...p, since: null })),
  ];
  const settled =
    result.planned === 0 && result.unstable === 0 && stored.length === 0 && result.unsent === 0;
  if (json)
    printJson({
      folder: root,
      workspace: workspaceName,
      seq: engine.store.cursor,
      settled,
      notUploaded: result.unsent,
      problems,
    });
  if (!settled) {
    const detail = problems
      .slice(0, 3)
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ');
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    if (result.unsent > 0 && problems.length === 0 && result.planned === 0)
      throw new CliError(
        `${result.unsent} local change(s) in ${root} are not uploaded: you may only view "${workspaceName}" (ask an owner for editor access); see \`tandem status ${root}\``,
      );
    throw new CliError(
      `${root} did not settle with the hub${detail ? `: ${detail}${more}` : ' (files still being written?)'}; run again, or see \`tandem status ${root}\``,
    );
  }
  if (!json)
    process.stderr.write(
      `${root} is in sync with "${workspaceName}" (seq ${engine.store.cursor})\n`,
    );
}

async function syncForever(
  engine: SyncEngine,
  root: string,
  config: DeviceConfig,
  workspaceId: string,
  workspaceName: string,
  log: (line: string) => void,
): Promise<void> {
  const runner = new SyncRunner({
    engine,
    root,
    hub: config.server,
    token: config.token,
    workspaceId,
    log,
    trust: trustFor(config),
  });
  const stop = () => {
    process.stderr.write('stopping after the current step...\n');
    runner.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stderr.write(`syncing ${root} with "${workspaceName}"; stop with Ctrl-C\n`);
  try {
    await runner.run();
  } catch (error) {
    if (error instanceof SyncHalted) throw new CliError(error.message, 2);
    if (error instanceof TandemError) throw new CliError(error.message);
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  process.stderr.write('stopped\n');
}

/** A trace line on stderr, stamped to the millisecond (phases last milliseconds). */
function traceLine(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/**
 * What `tandem sync DIR` does (loaded only when it runs): link DIR on first use, then sync
 * until Ctrl-C, or with --once until DIR and the hub agree.
 */
import { lstat, mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SyncEngine, SyncHalted, type RoundResult } from '../../agent/engine.js';
import {
  isAlive,
  createFolderState,
  isLinked,
  lockFolder,
  moveDamagedState,
  openFolderState,
  otherLink,
  readLinkFile,
  rebuildFolderState,
  StateDamaged,
  stateDirOf,
  stateFileOf,
  writeLinkFile,
  type FolderLock,
} from '../../agent/folder.js';
import { HubClient, HttpTransport } from '../../agent/hub-client.js';
import { desktopNotifier } from '../../agent/notifications.js';
import { SyncRunner, type RunnerOptions } from '../../agent/runner.js';
import { SyncNotifications } from '../../agent/sync-notifications.js';
import {
  isDamageError,
  StateVersionError,
  type DeletionRequest,
  type LinkInfo,
  type StateStore,
} from '../../agent/state-store.js';
import { NodeFileSystem } from '../../fs/node-file-system.js';
import { TandemError } from '../../protocol/errors.js';
import { deletionLimits, requireConfig, trustFor, type DeviceConfig } from '../config.js';
import { CliError, printJson, progress } from '../output.js';
import { resolveWorkspace } from './workspace.js';

export interface SyncOptions {
  workspace?: string;
  once?: boolean;
  json?: boolean;
  quiet?: boolean;
  notify?: boolean;
  confirmDeletions?: boolean;
  restoreHeld?: boolean;
  maxDeletions?: string;
  maxDeletionPercent?: string;
}

/** How long `--confirm-deletions` / `--restore-held` wait for a running agent to answer. */
const ANSWER_WAIT_MS = 120_000;

export async function runSync(dir: string, options: SyncOptions): Promise<void> {
  const root = resolve(dir);
  const config = await requireConfig();
  if (options.confirmDeletions && options.restoreHeld)
    throw new CliError('--confirm-deletions and --restore-held cannot go together: choose one');
  if (options.notify && (options.once || options.confirmDeletions || options.restoreHeld))
    throw new CliError(
      `--notify tells what happens while \`tandem sync\` keeps running: it cannot go with ${options.once ? '--once' : options.confirmDeletions ? '--confirm-deletions' : '--restore-held'}`,
    );
  const answer: DeletionRequest | undefined = options.confirmDeletions
    ? 'confirm'
    : options.restoreHeld
      ? 'restore'
      : undefined;
  const limits = deletionLimits(config, options);
  if (answer && (await isLinked(root))) {
    // An agent runs on the folder: leave the answer in its state database, and wait for it.
    const agent = await runningAgent(root);
    if (agent !== undefined) return await answerRunningAgent(root, answer, agent);
  }
  const { store, lock } = await linkFolder(root, config, options.workspace).catch(
    (error: unknown) => {
      // (A database of a newer Tandem: say so in one line, as for any other refusal.)
      throw error instanceof StateVersionError ? new CliError(error.message) : error;
    },
  );
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
    deletionLimits: limits,
    // Asked for explicitly, so traced even with --quiet.
    ...(process.env.TANDEM_TRACE === '1' ? { trace: traceLine } : {}),
  });
  let closed = false;
  try {
    await engine.prepare();
    if (answer) {
      // No agent runs: this one carries the answer out, syncs until settled, and exits. With
      // nothing held yet (deleted while no agent ran: none has looked), it looks first.
      if (store.heldDeletions().size === 0) await untilIdle(engine);
      if (!hasHeld(store, root, answer)) return;
      store.setDeletionRequest(answer);
    }
    if (options.once || answer)
      await syncOnce(engine, root, link.workspaceName, options.json ?? false);
    else
      await syncForever(engine, root, config, link.workspaceId, link.workspaceName, log, {
        notify: options.notify ?? false,
      });
  } catch (error) {
    if (!isDamageError(error)) throw error;
    // Found damaged while syncing: stop here, and move it aside (this process holds the
    // lock) so that the next start rebuilds it from link.json.
    store.close();
    closed = true;
    const movedTo = await moveDamagedState(root);
    throw new CliError(
      `${stateFileOf(root)} was found damaged while syncing (${(error as Error).message}); stopped, and moved it to ${movedTo}: run \`tandem sync ${root}\` again to rebuild it from this folder and the hub`,
    );
  } finally {
    if (!closed) store.close();
    await lock.release();
  }
}

/**
 * Takes DIR's lock, then opens its state (never the other way round: a second agent must
 * not even open, let alone rebuild, the database of a running one), linking DIR to the
 * workspace when it is not linked yet, and rebuilding a damaged or missing database from
 * `.tandem/link.json` (see rebuildFolderState). Returns the state and the lock.
 */
async function linkFolder(
  root: string,
  config: DeviceConfig,
  workspaceName: string | undefined,
): Promise<{ store: StateStore; lock: FolderLock }> {
  let exists = true;
  try {
    const info = await stat(root);
    if (!info.isDirectory()) throw new CliError(`${root} is not a folder`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    exists = false; // made once the link is known to work, not before
  }
  if (exists && (await isLinked(root))) {
    const lock = await takeLock(root);
    try {
      const store = await openLinked(root, config, workspaceName);
      let link = store.link!;
      // A workspace renamed since: its new name names the same id.
      if (linkRefusal(root, link, config, workspaceName) && workspaceName !== undefined) {
        const renamed = await renamedLink(config, link, workspaceName);
        if (renamed) {
          store.setLink(renamed);
          link = renamed;
        }
      }
      const refusal = linkRefusal(root, link, config, workspaceName);
      if (refusal) {
        store.close();
        throw new CliError(refusal);
      }
      // (A folder linked before link.json existed gets one now, from the database.)
      await writeLinkFile(root, link).catch((error: unknown) => {
        store.close();
        throw error;
      });
      return { store, lock };
    } catch (error) {
      await lock.release();
      throw error;
    }
  }
  if (workspaceName === undefined) {
    throw new CliError(
      `${root} is not linked to a workspace yet${exists ? '' : ' (nor created: it is made once linked)'}: run \`tandem sync ${root} --workspace NAME\` (see \`tandem workspace list\`)`,
    );
  }
  const nested = await otherLink(root);
  if (nested) throw new CliError(nested);
  const link = await linkTo(config, workspaceName);
  if (!exists) await mkdir(root, { recursive: true });
  await mkdir(stateDirOf(root), { recursive: true });
  const lock = await takeLock(root);
  try {
    const store = await createFolderState(root, link);
    process.stderr.write(`linked ${root} to workspace "${link.workspaceName}" on ${link.hub}\n`);
    return { store, lock };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * The link with its workspace's name as the hub says now, when `workspaceName` names the
 * linked workspace (renamed since it was linked); undefined otherwise, or if the hub cannot
 * be asked.
 */
async function renamedLink(
  config: DeviceConfig,
  link: LinkInfo,
  workspaceName: string,
): Promise<LinkInfo | undefined> {
  if (link.hub !== config.server) return undefined;
  try {
    const client = new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
    const found = (await client.listWorkspaces()).find((w) => w.id === link.workspaceId);
    return found && found.name === workspaceName
      ? { ...link, workspaceName: found.name }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the agent that holds DIR's lock, or undefined when none runs. */
async function runningAgent(root: string): Promise<number | undefined> {
  const lock = await lockFolder(root);
  if ('heldBy' in lock) return lock.heldBy;
  await lock.release();
  return undefined;
}

async function takeLock(root: string): Promise<FolderLock> {
  const lock = await lockFolder(root);
  if ('heldBy' in lock)
    throw new CliError(`another tandem sync (pid ${lock.heldBy}) is already syncing ${root}`);
  return lock;
}

/** The link to `workspaceName` on the hub this device is signed in to. */
async function linkTo(config: DeviceConfig, workspaceName: string): Promise<LinkInfo> {
  const client = new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
  const workspace = await resolveWorkspace(client, workspaceName);
  return {
    hub: config.server,
    workspaceId: workspace.id,
    workspaceName: workspace.name,
    deviceId: config.deviceId,
  };
}

/**
 * Opens the state of a linked folder (the lock held). A database that is damaged, missing,
 * or holds no link is moved aside and rebuilt from `.tandem/link.json`, or, without one,
 * from the workspace named by --workspace; with neither, a CliError says what to do.
 */
async function openLinked(
  root: string,
  config: DeviceConfig,
  workspaceName: string | undefined,
): Promise<StateStore> {
  // What is wrong with it, as "state.db was ..." and "state.db is ...".
  let was: string;
  let is: string;
  try {
    const store = await openFolderState(root, false);
    if (store.link) return store;
    store.close();
    [was, is] = ['held no link to a workspace', 'holds no link to a workspace'];
  } catch (error) {
    if (!(error instanceof StateDamaged)) throw error;
    [was, is] = error.missing
      ? ['was missing', 'is missing']
      : [`was damaged (${error.reason})`, `is damaged (${error.reason})`];
  }
  const file = stateFileOf(root);
  let link = await readLinkFile(root);
  if (!link) {
    if (workspaceName === undefined)
      throw new CliError(
        `${file} ${is}, and ${root}/.tandem/link.json, which says which workspace to rebuild it from, is missing too: run \`tandem sync ${root} --workspace NAME\` to rebuild it from this folder and that workspace (nothing here is lost: a file that differs from the hub is kept as a conflicted copy)`,
      );
    link = await linkTo(config, workspaceName);
  }
  // (Refused before anything is moved: after `tandem login` to that hub, it is rebuilt.)
  const refusal = linkRefusal(root, link, config, workspaceName);
  if (refusal) throw new CliError(refusal);
  const { store, movedTo } = await rebuildFolderState(root, link);
  process.stderr.write(
    `tandem: ${file} ${was}; ${movedTo === undefined ? '' : `moved it to ${movedTo} and `}rebuilt it from this folder and the hub\n`,
  );
  return store;
}

/** Why DIR's link cannot serve this run (another workspace asked, another hub signed in). */
function linkRefusal(
  root: string,
  link: LinkInfo,
  config: DeviceConfig,
  workspaceName: string | undefined,
): string | undefined {
  if (
    workspaceName !== undefined &&
    workspaceName !== link.workspaceName &&
    workspaceName !== link.workspaceId
  )
    return `${root} is linked to workspace "${link.workspaceName}", not "${workspaceName}": sync another folder, or drop --workspace`;
  if (link.hub !== config.server)
    return `${root} is linked to the hub ${link.hub}, but this device is signed in to ${config.server}: run \`tandem login --server ${link.hub} ...\``;
  return undefined;
}

async function syncOnce(
  engine: SyncEngine,
  root: string,
  workspaceName: string,
  json: boolean,
): Promise<void> {
  const result = await untilIdle(engine);
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
    result.planned === 0 &&
    result.unstable === 0 &&
    stored.length === 0 &&
    result.unsent === 0 &&
    result.heldDeletions === 0;
  if (json)
    printJson({
      folder: root,
      workspace: workspaceName,
      seq: engine.store.cursor,
      settled,
      notUploaded: result.unsent,
      heldDeletions: result.heldDeletions,
      problems,
    });
  if (!settled) {
    if (result.heldDeletions > 0)
      throw new CliError(
        `${root} did not settle with the hub: ${heldSentence(root, result.heldDeletions, engine.heldReason)}`,
      );
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
  { notify }: { notify: boolean },
): Promise<void> {
  const { flush, ...hooks }: Partial<NotificationHooks> = notify
    ? await startNotifications(engine, config, workspaceName)
    : {};
  const runner = new SyncRunner({
    engine,
    root,
    hub: config.server,
    token: config.token,
    workspaceId,
    log,
    trust: trustFor(config),
    ...hooks,
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
    // (What arrived in the last moments is still told.)
    flush?.();
  }
  process.stderr.write('stopped\n');
}

/** What `--notify` adds to the runner, and a way to tell what is gathered at once. */
type NotificationHooks = Pick<RunnerOptions, 'onRound' | 'onOtherAccess'> & {
  readonly flush: () => void;
};

/**
 * `--notify`: desktop notifications of what arrives, conflicts and shares (said on stderr
 * too, never instead: a machine without a desktop or notify-send is told so once and syncs
 * on). The workspaces the user has are asked first, to tell a new share from a role change.
 */
async function startNotifications(
  engine: SyncEngine,
  config: DeviceConfig,
  workspaceName: string,
): Promise<NotificationHooks> {
  const client = new HubClient(new HttpTransport(config.server, trustFor(config)), config.token);
  const notes = new SyncNotifications(desktopNotifier(progress), {
    workspace: () => engine.store.link?.workspaceName ?? workspaceName,
    // (Made by the user on another device, and then renamed, say: theirs, not shared.)
    isOwn: async (workspace) =>
      (await client.listWorkspaces()).find((w) => w.id === workspace)?.owner === config.user,
  });
  let known = false;
  let asking: Promise<void> | undefined;
  const learn = () =>
    (asking ??= client
      .listWorkspaces()
      .then((workspaces) => {
        notes.knownWorkspaces(workspaces.map((w) => w.id));
        known = true;
      })
      // (The hub cannot be asked now: asked again after a round reaches it.)
      .catch(() => undefined)
      .finally(() => (asking = undefined)));
  await learn();
  return {
    flush: () => notes.flush(),
    onRound: (result) => {
      notes.conflictsMade(result.conflicts);
      notes.filesReceived(result.received);
      if (!known) void learn();
    },
    onOtherAccess: (workspace, role, name) => void notes.access(workspace, role, name),
  };
}

/** A trace line on stderr, stamped to the millisecond (phases last milliseconds). */
function traceLine(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/** Syncs until a round plans nothing and nothing settles; SyncHalted is said in one line. */
async function untilIdle(engine: SyncEngine): Promise<RoundResult> {
  try {
    return await engine.syncUntilIdle(100, 5_000);
  } catch (error) {
    if (error instanceof SyncHalted) throw new CliError(error.message, 2);
    throw error;
  }
}

/** What is held, why, and the two ways out, in one sentence. */
function heldSentence(root: string, files: number, reason: string | undefined): string {
  return (
    `${files} local deletion(s) are held${reason === undefined ? '' : ` (${reason})`}; ` +
    `run \`tandem sync ${root} --confirm-deletions\` to send them, or \`tandem sync ${root} --restore-held\` to bring the files back from the hub`
  );
}

/** True when deletions are held; else says there is nothing to answer. */
function hasHeld(store: StateStore, root: string, answer: DeletionRequest): boolean {
  if (store.heldDeletions().size > 0) return true;
  process.stderr.write(
    `no deletions are held in ${root}: nothing to ${answer === 'confirm' ? 'confirm' : 'restore'} (see \`tandem status ${root}\`)\n`,
  );
  return false;
}

/**
 * Leaves the person's answer in the state database of the agent (pid `agent`) that syncs
 * `root`, which takes it within a second and carries it out, and waits until it has: until
 * no deletion is held any more, and, for a restore, until every held file is back on disk.
 * Throws a CliError saying what happened when the agent stops first, or does not finish in
 * ANSWER_WAIT_MS (the answer stays recorded for it in both cases).
 */
async function answerRunningAgent(
  root: string,
  answer: DeletionRequest,
  agent: number,
): Promise<void> {
  // (Opened, never rebuilt: it is the running agent's database.)
  let store: StateStore;
  try {
    store = await openFolderState(root, false);
  } catch (error) {
    if (error instanceof StateDamaged || error instanceof StateVersionError)
      throw new CliError(
        `cannot leave the answer for the tandem sync running on ${root} (pid ${agent}): ${error.message}`,
      );
    throw error;
  }
  try {
    await waitForAgent(store, root, answer, agent);
  } finally {
    store.close();
  }
}

async function waitForAgent(
  store: StateStore,
  root: string,
  answer: DeletionRequest,
  agent: number,
): Promise<void> {
  if (!hasHeld(store, root, answer)) return;
  const held = store.heldDeletions();
  const files = [...held].filter(([, h]) => h.kind !== 'dir').map(([path]) => path);
  store.setDeletionRequest(answer);
  process.stderr.write(
    `asked the tandem sync running on ${root} (pid ${agent}) to ${answer === 'confirm' ? 'send' : 'bring back'} ${files.length} held file(s); waiting for it...\n`,
  );
  const deadline = Date.now() + ANSWER_WAIT_MS;
  let notBack = files;
  for (;;) {
    const taken = store.deletionRequest === undefined;
    if (taken) {
      // (Only what was held when asked: deletions held since wait for an answer of their own.)
      const now = store.heldDeletions();
      const left = [...held.keys()].filter((path) => now.has(path)).length;
      if (answer === 'restore' && left === 0) notBack = await missing(root, notBack);
      if (left === 0 && (answer === 'confirm' || notBack.length === 0)) break;
    } else if (!isAlive(agent))
      throw new CliError(
        `the tandem sync on ${root} (pid ${agent}) stopped before it took the answer; it is kept, and the next \`tandem sync ${root}\` carries it out`,
      );
    if (Date.now() > deadline)
      throw new CliError(
        taken
          ? `the tandem sync on ${root} (pid ${agent}) took the answer but has not finished in ${ANSWER_WAIT_MS / 1000} s ` +
              `(${answer === 'restore' ? `${notBack.length} file(s) not back yet` : `${store.heldDeletions().size} deletion(s) not sent yet`}; is the hub reachable?): see \`tandem status ${root}\``
          : `the tandem sync on ${root} (pid ${agent}) has not taken the answer in ${ANSWER_WAIT_MS / 1000} s (busy with a long round?); it is kept, and carried out when it does: see \`tandem status ${root}\``,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stderr.write(
    answer === 'confirm'
      ? `sent ${files.length} held deletion(s) from ${root}\n`
      : `brought back ${files.length} held file(s) to ${root} from the hub\n`,
  );
}

/** The paths of `paths` that nothing stands at under `root` yet. */
async function missing(root: string, paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const there = await lstat(join(root, path)).catch(() => undefined);
    if (there === undefined) out.push(path);
  }
  return out;
}

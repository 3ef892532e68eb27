/** `tandem status DIR` and `tandem explain PATH`: what is linked, pending, and why. */
import type { Command } from 'commander';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { legacyModes } from '../../core/entry.js';
import { TandemError } from '../../protocol/errors.js';
import { deletionLimits, loadConfig, trustFor } from '../config.js';
import { CliError, jsonOption, printJson, printLine } from '../output.js';
import type { Problem } from '../../agent/scanner.js';
import type { HubClient } from '../../agent/hub-client.js';
import type { StateStore, StoredProblem } from '../../agent/state-store.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description('show the workspace, hub, cursor and pending changes of a synced folder')
    .argument('<dir>', 'a synced folder')
    .addOption(jsonOption())
    .action(async (dir: string, options: { json?: boolean }) => {
      const { isLinked } = await import('../../agent/folder.js');
      const { HttpTransport, HubClient } = await import('../../agent/hub-client.js');
      const { readIgnoreFile, scanTree } = await import('../../agent/scanner.js');
      const { makeIgnoreMatcher } = await import('../../core/ignore.js');
      const { plan } = await import('../../core/planner.js');
      const { problemPathOf } = await import('../../agent/problems.js');
      const { NodeFileSystem } = await import('../../fs/node-file-system.js');
      const root = resolve(dir);
      const kind = await lstat(root).then(
        (st) => (st.isDirectory() ? 'dir' : 'other'),
        () => 'missing',
      );
      if (kind === 'missing') throw new CliError(`${root} does not exist`);
      if (kind === 'other') throw new CliError(`${root} is not a folder`);
      if (!(await isLinked(root)))
        throw new CliError(
          `${root} is not a synced folder (no .tandem inside): link it with \`tandem sync ${root} --workspace NAME\``,
        );
      const store = await openState(root);
      try {
        const link = store.link;
        if (!link)
          throw new CliError(
            `${root}/.tandem is incomplete: run \`tandem sync ${root} --workspace NAME\` again`,
          );
        const config = await loadConfig();
        // The hub's changes since this device's cursor, folded into a copy of the state, so
        // what waits to be received is counted path by path (not journal rows).
        let head: number | undefined;
        let hubError: string | undefined;
        let ahead: { remote: StateStore['remote']; held: (path: string) => boolean } | undefined;
        let viewer = false;
        // (A hub of the release before modes holds none: compared as the agent compares them.)
        let hubModes = true;
        if (!config) hubError = 'this device is not signed in (run `tandem login`)';
        else {
          try {
            const client = new HubClient(
              new HttpTransport(link.hub, trustFor(config, link.hub)),
              config.token,
            );
            const ws = (await client.listWorkspaces()).find((w) => w.id === link.workspaceId);
            if (!ws) hubError = `the workspace ${link.workspaceName} is not on the hub for you`;
            else {
              head = ws.head;
              viewer = ws.role === 'viewer';
              ahead = await lookAhead(store, client, link.workspaceId);
              hubModes = client.hubModes;
            }
          } catch (error) {
            hubError = error instanceof TandemError ? error.message : String(error);
          }
        }
        // What the next round would do, from a read-only scan.
        const fs = new NodeFileSystem();
        const matcher = makeIgnoreMatcher(await readIgnoreFile(fs, root));
        const scan = await scanTree({
          fs,
          root,
          isIgnored: matcher,
          hashes: store.hashes,
          setHash: () => {},
          now: Date.now,
        });
        const held = ahead?.held ?? ((p: string) => store.isHeld(p));
        const pending = plan({
          base: store.base,
          local: hubModes ? scan.local : legacyModes(scan.local),
          remote: ahead?.remote ?? store.remote,
          skip: scan.skip,
          // (Paths held for an invalid change from the hub are listed as problems instead.)
          isIgnored: (p) => matcher(p) || held(p),
        });
        // Local deletions the mass-deletion guard holds for the person, and those it will hold
        // when the agent next looks (deleted while it was stopped): reported on their own, not
        // as waiting uploads (they wait for an answer, not for the agent).
        const { DeletionGuard } = await import('../../agent/deletion-guard.js');
        const { StateStore } = await import('../../agent/state-store.js');
        const agentHolds = store.heldDeletions();
        const foresight = new StateStore(':memory:');
        let heldRows;
        try {
          foresight.setHeldDeletions(agentHolds);
          new DeletionGuard(foresight, deletionLimits(config ?? {}, {})).filter(
            pending.changes,
            pending.changes,
            store.base,
            Date.now(),
          );
          heldRows = [...foresight.heldDeletions()].filter(([, h]) => !h.confirmed);
        } finally {
          foresight.close();
        }
        const heldPaths = new Set(heldRows.map(([path]) => path));
        const heldFiles = heldRows.filter(([, h]) => h.kind !== 'dir');
        const byAgent = heldFiles.filter(([path]) => agentHolds.has(path));
        const counts: Record<string, number> = {};
        for (const change of pending.changes)
          if (change.type !== 'push-delete' || !heldPaths.has(change.path))
            counts[change.type] = (counts[change.type] ?? 0) + 1;
        const reachable = hubError === undefined;
        const report = {
          folder: root,
          workspace: { id: link.workspaceId, name: link.workspaceName },
          hub: link.hub,
          hubReachable: reachable,
          hubError: hubError ?? null,
          // When the agent last found the hub unreachable, if it has not reached it since.
          hubUnreachableSince: reachable ? null : (store.hubUnreachableSince ?? null),
          cursor: store.cursor,
          head: head ?? null,
          tracked: store.base.size,
          pending: {
            upload:
              (counts['push-put'] ?? 0) + (counts['push-delete'] ?? 0) + (counts['push-move'] ?? 0),
            // Unknown while the hub cannot be asked what changed there.
            download: reachable
              ? (counts['pull-put'] ?? 0) +
                (counts['pull-delete'] ?? 0) +
                (counts['pull-move'] ?? 0)
              : null,
            conflicts: counts.conflict ?? 0,
            writing: scan.unstable.size,
          },
          problems: problemsOf(store.problems, scan.problems),
          // Held until `tandem sync DIR --confirm-deletions` (or `--restore-held`).
          heldDeletions:
            heldFiles.length === 0
              ? null
              : {
                  files: heldFiles.length,
                  reason: heldFiles[0]![1].reason,
                  // Of them, those the agent holds already, since when (null: none yet).
                  heldByAgent: byAgent.length,
                  since: byAgent.length === 0 ? null : Math.min(...byAgent.map(([, h]) => h.since)),
                  paths: heldFiles.map(([path]) => path),
                },
          // A viewer's local changes: kept on this device, never sent.
          readOnly: viewer,
          notUploaded: viewer
            ? pending.changes.filter((c) => c.type.startsWith('push-')).map(problemPathOf)
            : [],
          inSync: false,
        };
        const p = report.pending;
        const waiting = p.upload + (p.download ?? 0) + p.conflicts + p.writing;
        const why = notInSyncBecause(report);
        report.inSync = why.length === 0;
        const failed = () => new CliError(`${root} is not in sync with the hub: ${why.join('; ')}`);
        if (options.json) {
          printJson(report);
          if (!report.inSync) throw failed();
          return;
        }
        const since =
          report.hubUnreachableSince === null
            ? ''
            : `, since ${new Date(report.hubUnreachableSince).toISOString()}`;
        printLine(`folder:    ${root}`);
        printLine(`workspace: ${link.workspaceName} (${link.workspaceId})`);
        printLine(
          `hub:       ${link.hub}${reachable ? '' : ` (unreachable${since}: ${hubError})`}`,
        );
        printLine(`cursor:    ${store.cursor}${head !== undefined ? ` of ${head}` : ''}`);
        printLine(`tracked:   ${store.base.size} paths`);
        printLine(
          waiting === 0 && reachable
            ? 'pending:   nothing'
            : `pending:   ${p.upload} to send, ${p.download ?? 'unknown (hub unreachable)'} to receive, ${p.conflicts} conflicts, ${p.writing} still being written`,
        );
        for (const path of report.notUploaded)
          printLine(`not sent:  ${printable(path)}: not uploaded (read-only role)`);
        if (report.heldDeletions) {
          const h = report.heldDeletions;
          const when =
            h.since === null
              ? 'held as soon as the agent looks'
              : `since ${new Date(h.since).toISOString()}${h.heldByAgent < h.files ? `; ${h.files - h.heldByAgent} more held as soon as the agent looks` : ''}`;
          printLine(
            `held deletions: ${h.files} files (${h.reason}, ${when}; ` +
              `run \`tandem sync ${root} --confirm-deletions\` to send them, or \`tandem sync ${root} --restore-held\` to bring them back)`,
          );
        }
        for (const problem of report.problems)
          printLine(
            `problem:   ${printable(problem.path)}: ${printable(problem.message)}${problem.since === null ? '' : ` (since ${new Date(problem.since).toISOString()})`}`,
          );
        if (!report.inSync) throw failed();
        printLine('in sync with the hub');
      } finally {
        store.close();
      }
    });

  program
    .command('explain')
    .description('say why a path was sent, received, renamed or forked')
    .argument('<path>', 'a path inside a synced folder')
    .option('--limit <n>', 'how many decisions to show', '20')
    .addOption(jsonOption())
    .action(async (path: string, options: { limit: string; json?: boolean }) => {
      const { findSyncedRoot } = await import('../../agent/folder.js');
      const full = resolve(path);
      const root = await findSyncedRoot(full);
      if (!root) throw new CliError(`${full} is not inside a synced folder`);
      // The workspace's form of the path: '/'-separated (a '\\' is a name character on Linux
      // and macOS), in NFC whatever the spelling typed.
      const rel = relative(root, full).split(sep).join('/').normalize('NFC');
      const store = await openState(root);
      try {
        const decisions = store.decisions(rel, Math.max(1, Number(options.limit) || 20));
        const base = store.base.get(rel);
        const remote = store.remote.get(rel);
        if (options.json) {
          printJson({ path: rel, base: base ?? null, remote: remote ?? null, decisions });
          return;
        }
        if (decisions.length === 0) printLine(`${rel}: no decisions recorded`);
        for (const d of decisions)
          printLine(`${new Date(d.time).toISOString()}  ${d.action.padEnd(16)} ${d.detail}`);
      } finally {
        store.close();
      }
    });
}

/**
 * Opens a folder's state; a database of a newer Tandem is refused in one line, and so is a
 * damaged or missing one, saying what the next `tandem sync` does about it (this command
 * changes nothing: it holds no lock).
 */
async function openState(root: string): Promise<StateStore> {
  const { openFolderState, readLinkFile, StateDamaged } = await import('../../agent/folder.js');
  const { StateVersionError } = await import('../../agent/state-store.js');
  try {
    return await openFolderState(root, false);
  } catch (error) {
    if (error instanceof StateVersionError) throw new CliError(error.message);
    if (!(error instanceof StateDamaged)) throw error;
    const is = error.missing ? 'is missing' : `is damaged (${error.reason})`;
    if (!(await readLinkFile(root)))
      throw new CliError(
        `${error.file} ${is}, and ${root}/.tandem/link.json, which says which workspace to rebuild it from, is missing too: run \`tandem sync ${root} --workspace NAME\` to rebuild it from this folder and that workspace (nothing here is lost: a file that differs from the hub is kept as a conflicted copy)`,
      );
    throw new CliError(
      `${error.file} ${is}: the next \`tandem sync ${root}\` ${error.missing ? 'rebuilds it' : 'moves it aside and rebuilds it'} from this folder and the hub (nothing here is lost: a file that differs from the hub is kept as a conflicted copy)`,
    );
  }
}

/**
 * The remote tree as it will be once the hub's changes since the cursor are pulled: the
 * pages are applied, checked as the agent checks them, to a copy of the state database.
 */
async function lookAhead(
  store: StateStore,
  client: HubClient,
  workspaceId: string,
): Promise<{ remote: StateStore['remote']; held: (path: string) => boolean }> {
  const { StateStore } = await import('../../agent/state-store.js');
  const { pullInto } = await import('../../agent/pull.js');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-status-'));
  try {
    await store.copyTo(join(dir, 'state.db'));
    const copy = new StateStore(join(dir, 'state.db'));
    try {
      await pullInto(copy, client, workspaceId);
      // (Both stay readable once the copy is closed: they are held in memory.)
      return { remote: copy.remote, held: (path) => copy.isHeld(path) };
    } finally {
      copy.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Why a folder is not in sync with the hub, in words, from its report: none when it is. A
 * viewer's local changes count once, as not uploaded, not again as waiting; held deletions
 * are a reason of their own, with the two ways out.
 */
function notInSyncBecause(report: {
  folder: string;
  hubReachable: boolean;
  hubError: string | null;
  pending: { upload: number; download: number | null; conflicts: number; writing: number };
  problems: readonly unknown[];
  notUploaded: readonly string[];
  heldDeletions: { files: number; reason: string } | null;
}): string[] {
  const { pending: p, notUploaded, problems, heldDeletions: held, folder } = report;
  const why: string[] = [];
  if (!report.hubReachable) why.push(`the hub is unreachable (${report.hubError})`);
  if (notUploaded.length > 0)
    why.push(
      `${notUploaded.length} local change(s) are not uploaded: you may only view this workspace (read-only role)`,
    );
  const waiting = p.upload + (p.download ?? 0) + p.conflicts + p.writing;
  if (waiting > notUploaded.length) why.push('changes are waiting (see pending)');
  if (held)
    why.push(
      `${held.files} local deletion(s) are held (${held.reason}): run \`tandem sync ${folder} --confirm-deletions\` to send them, or \`tandem sync ${folder} --restore-held\` to bring them back`,
    );
  if (problems.length > 0)
    why.push(
      `${problems.length} problem(s): each must be fixed (or the hub must send a valid version) before it syncs`,
    );
  return why;
}

/**
 * The problems to report: those the agent recorded (of the feed, and of changes that failed
 * and wait for a retry), with when each began, and those this scan found (since: null). What
 * the agent recorded of the disk (a name it cannot sync, a pipe or device) is reported only
 * while this scan still finds it: it may have been fixed while the agent was stopped.
 */
function problemsOf(
  stored: ReadonlyMap<string, StoredProblem>,
  scanned: readonly Problem[],
): { path: string; message: string; since: number | null }[] {
  const out: { path: string; message: string; since: number | null }[] = [];
  const seen = new Set<string>();
  const onDisk = new Set(scanned.map((p) => p.path));
  for (const [path, problem] of stored) {
    const ofDisk = problem.kind === 'scan' || problem.kind === 'local';
    if (ofDisk && !onDisk.has(path)) continue;
    out.push({ path, message: problem.message, since: problem.since });
    seen.add(`${path}\u0000${problem.message}`);
    // (The agent's words for it, with since when, stand for this scan's.)
    if (ofDisk) seen.add(path);
  }
  for (const problem of scanned)
    if (!seen.has(problem.path) && !seen.has(`${problem.path}\u0000${problem.message}`))
      out.push({ path: problem.path, message: problem.message, since: null });
  return out;
}

// C0 and C1 controls, DEL and unpaired surrogates: never sent raw to a terminal.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/gu;

/** Text for a terminal: what could drive it is shown as an escape. */
function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `tandem status DIR` and `tandem explain PATH`: what is linked, pending, and why. */
import type { Command } from 'commander';
import { relative, resolve } from 'node:path';
import { TandemError } from '../../protocol/errors.js';
import { loadConfig, trustFor } from '../config.js';
import { CliError, jsonOption, printJson, printLine } from '../output.js';
import type { Problem } from '../../agent/scanner.js';
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
      const { NodeFileSystem } = await import('../../fs/node-file-system.js');
      const root = resolve(dir);
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
        let head: number | undefined;
        let hubError: string | undefined;
        if (config) {
          try {
            const ws = (
              await new HubClient(
                new HttpTransport(link.hub, trustFor(config, link.hub)),
                config.token,
              ).listWorkspaces()
            ).find((w) => w.id === link.workspaceId);
            head = ws?.head;
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
        const pending = plan({
          base: store.base,
          local: scan.local,
          remote: store.remote,
          skip: scan.skip,
          // (Paths held for an invalid change from the hub are listed as problems instead.)
          isIgnored: (p) => matcher(p) || store.isHeld(p),
        });
        const counts: Record<string, number> = {};
        for (const change of pending.changes) counts[change.type] = (counts[change.type] ?? 0) + 1;
        const report = {
          folder: root,
          workspace: { id: link.workspaceId, name: link.workspaceName },
          hub: link.hub,
          cursor: store.cursor,
          head: head ?? null,
          hubError: hubError ?? null,
          tracked: store.base.size,
          pending: {
            upload:
              (counts['push-put'] ?? 0) + (counts['push-delete'] ?? 0) + (counts['push-move'] ?? 0),
            download:
              (counts['pull-put'] ?? 0) +
              (counts['pull-delete'] ?? 0) +
              (counts['pull-move'] ?? 0) +
              Math.max(0, (head ?? store.cursor) - store.cursor),
            conflicts: counts.conflict ?? 0,
            writing: scan.unstable.size,
          },
          problems: problemsOf(store.problems, scan.problems),
        };
        const failed = () =>
          new CliError(
            `${report.problems.length} problem(s) in ${root}: each must be fixed (or the hub must send a valid version) before it syncs`,
          );
        if (options.json) {
          printJson(report);
          if (report.problems.length > 0) throw failed();
          return;
        }
        printLine(`folder:    ${root}`);
        printLine(`workspace: ${link.workspaceName} (${link.workspaceId})`);
        printLine(`hub:       ${link.hub}${hubError ? ` (unreachable: ${hubError})` : ''}`);
        printLine(`cursor:    ${store.cursor}${head !== undefined ? ` of ${head}` : ''}`);
        printLine(`tracked:   ${store.base.size} paths`);
        const p = report.pending;
        printLine(
          p.upload + p.download + p.conflicts + p.writing === 0
            ? 'pending:   nothing, up to date'
            : `pending:   ${p.upload} to send, ${p.download} to receive, ${p.conflicts} conflicts, ${p.writing} still being written`,
        );
        for (const problem of report.problems)
          printLine(
            `problem:   ${printable(problem.path)}: ${printable(problem.message)}${problem.since === null ? '' : ` (since ${new Date(problem.since).toISOString()})`}`,
          );
        if (report.problems.length > 0) throw failed();
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
      const rel = relative(root, full).split('\\').join('/');
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

/** Opens a folder's state; a database of a newer Tandem is refused in one line. */
async function openState(root: string): Promise<StateStore> {
  const { openFolderState } = await import('../../agent/folder.js');
  const { StateVersionError } = await import('../../agent/state-store.js');
  try {
    return await openFolderState(root, false);
  } catch (error) {
    throw error instanceof StateVersionError ? new CliError(error.message) : error;
  }
}

/**
 * The problems to report: those the agent recorded (of the feed, and of changes that failed
 * and wait for a retry), with when each began, and those this scan found (since: null).
 */
function problemsOf(
  stored: ReadonlyMap<string, StoredProblem>,
  scanned: readonly Problem[],
): { path: string; message: string; since: number | null }[] {
  const out: { path: string; message: string; since: number | null }[] = [];
  const seen = new Set<string>();
  for (const [path, problem] of stored) {
    out.push({ path, message: problem.message, since: problem.since });
    seen.add(`${path}\u0000${problem.message}`);
  }
  for (const problem of scanned)
    if (!seen.has(`${problem.path}\u0000${problem.message}`))
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

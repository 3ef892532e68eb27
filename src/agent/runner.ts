/**
 * Keeps a folder in sync until stopped: runs engine rounds whenever a hint arrives (watcher
 * event, hub poke, retry timer, periodic rescan), one round at a time. Stops on request,
 * after the current round, or with an error when syncing cannot go on safely.
 */
import { sep } from 'node:path';
import { STATE_DIR } from '../core/ignore.js';
import { watchTree, type WatchHandle } from '../fs/watcher.js';
import type { Role } from '../protocol/api.js';
import { TandemError } from '../protocol/errors.js';
import { SyncHalted, type RoundResult, type SyncEngine } from './engine.js';
import { EventsClient } from './events-client.js';
import { writeLinkFile } from './folder.js';
import type { HubTrust } from './hub-trust.js';
import { isDamageError } from './state-store.js';

export interface RunnerOptions {
  readonly engine: SyncEngine;
  readonly root: string;
  readonly hub: string;
  readonly token: string;
  readonly workspaceId: string;
  readonly log: (line: string) => void;
  /** How the event socket checks a wss hub's certificate (see EventsClientOptions.trust). */
  readonly trust?: HubTrust;
  /** Full rescan even without watcher events, as a safety net (ms; default 5 minutes). */
  readonly rescanMs?: number;
  /** Wait after a watcher event for more events to arrive (ms). */
  readonly debounceMs?: number;
  /** Told of each round that reached the hub (what it received, the conflicts it made). */
  readonly onRound?: (result: RoundResult) => void;
  /** The hub says the user's role on another workspace (see EventsClientOptions). */
  readonly onOtherAccess?: (workspace: string, role: Role, name: string) => void;
}

/** A full scan this long after the last activity catches any event the watcher missed. */
const SETTLE_SCAN_MS = 2_000;

/**
 * While deletions are held, how often to look in the state database for the person's answer
 * (`tandem sync DIR --confirm-deletions` / `--restore-held`, run beside this agent).
 */
export const ANSWER_POLL_MS = 500;

const FATAL_CODES = new Set([
  'UNAUTHENTICATED',
  'DEVICE_REVOKED',
  'ACCOUNT_DISABLED',
  'ACCESS_REMOVED',
  'FORBIDDEN',
  'WORKSPACE_NOT_FOUND',
  'PROTOCOL_MISMATCH',
  'CERTIFICATE_CHANGED',
]);

export class SyncRunner {
  private dirty = true;
  private stopping = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private fatal: Error | undefined;
  private watch: WatchHandle | undefined;
  private events: EventsClient | undefined;
  private failures = 0;
  private offline = false;
  /** Whether a round has reached the hub since the runner started. */
  private reachedHub = false;
  private idleReported = false;
  /** The last round failure logged: the same one again is not logged again. */
  private lastFailure: string | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** The scans every 2 s that stand in for a watcher that cannot run. */
  private fallbackScan: NodeJS.Timeout | undefined;
  /** Paths the watcher reported since the last round ('all': scan everything). */
  private hints: Set<string> | 'all' = 'all';
  /** The next round follows a filesystem event (debounced); hub pokes and timers are not. */
  private settle = false;

  constructor(private readonly options: RunnerOptions) {}

  /** Marks that something may have changed and wakes the loop. */
  poke = (): void => {
    this.dirty = true;
    this.wake?.();
  };

  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Runs until `stop()` (resolves) or a fatal condition (rejects with a message for people). */
  async run(): Promise<void> {
    const { log } = this.options;
    await this.startWatcher();
    this.events = new EventsClient({
      hub: this.options.hub,
      token: this.options.token,
      workspaceId: this.options.workspaceId,
      ...(this.options.trust ? { trust: this.options.trust } : {}),
      onChanged: (seq) => {
        if (seq > this.options.engine.store.cursor) this.poke();
      },
      onUploading: (preview) => void this.options.engine.preview(preview),
      onAccess: (role, name) => {
        this.renamed(name);
        // (Changes kept back for a viewer are sent by the next round's plan.)
        if (this.options.engine.setRole(role)) this.poke();
      },
      ...(this.options.onOtherAccess ? { onOtherAccess: this.options.onOtherAccess } : {}),
      onFatal: (message) => {
        this.fatal = new TandemError('UNAUTHENTICATED', message);
        this.stop();
      },
      log,
    });
    this.events.start();
    const rescan = setInterval(this.pokeAll, this.options.rescanMs ?? 5 * 60_000);
    // (A SELECT on a small table, and only while deletions are held.)
    const answers = setInterval(() => {
      const { engine } = this.options;
      try {
        if (engine.heldDeletions > 0 && engine.store.deletionRequest !== undefined) this.poke();
      } catch {
        // (The database cannot be read now: the next round says why.)
      }
    }, ANSWER_POLL_MS);
    try {
      while (!this.stopping) {
        if (!this.dirty) await this.sleepUntilPoked();
        if (this.stopping) break;
        if (this.settle) {
          // A filesystem event: more usually follow at once, so wait a moment for them.
          this.settle = false;
          await new Promise((r) => setTimeout(r, this.options.debounceMs ?? 5));
        }
        this.dirty = false;
        await this.oneRound();
      }
    } finally {
      clearInterval(rescan);
      clearInterval(answers);
      clearInterval(this.fallbackScan);
      if (this.timer) clearTimeout(this.timer);
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.events.close();
      await this.watch?.close();
      await this.options.engine.close();
    }
    if (this.fatal) throw this.fatal;
  }

  /** Keeps the link's display name as the hub says (the link names the workspace by id). */
  private renamed(name: string): void {
    const { engine, root, log } = this.options;
    const link = engine.store.link;
    if (!link || link.workspaceName === name) return;
    try {
      const renamed = { ...link, workspaceName: name };
      engine.store.setLink(renamed);
      void writeLinkFile(root, renamed).catch(() => undefined);
      log(`the workspace "${link.workspaceName}" is now called "${name}"`);
    } catch {
      // (The database cannot be written now: the next round says why; the id still links.)
    }
  }

  private async startWatcher(): Promise<void> {
    try {
      this.watch = await watchTree(
        this.options.root,
        [STATE_DIR],
        (paths) => {
          this.hint(paths);
          this.settle = true;
          this.poke();
        },
        (error) => {
          this.options.log(
            `file watcher failed (${error.message}); falling back to a scan every 2 s`,
          );
          void this.watch?.close();
          this.watch = undefined;
          this.scanWithoutWatcher();
        },
      );
    } catch (error) {
      this.options.log(
        `cannot watch ${this.options.root} (${(error as Error).message}); scanning every 2 s instead`,
      );
      this.scanWithoutWatcher();
    }
  }

  /** Without a watcher, a full scan every 2 s (until the runner stops). */
  private scanWithoutWatcher(): void {
    if (this.stopping) return;
    this.fallbackScan ??= setInterval(this.pokeAll, 2_000).unref();
  }

  /** Records changed paths (absolute, from the watcher) for the next round to scan. */
  private hint(paths: readonly string[]): void {
    if (this.hints === 'all') return;
    const prefix = `${this.options.root}/`;
    for (const path of paths) {
      if (!path.startsWith(prefix) || this.hints.size > 50_000) {
        this.hints = 'all'; // the root itself changed, or too much to list: scan everything
        return;
      }
      const rel = path.slice(prefix.length).split(sep).join('/');
      if (rel !== STATE_DIR && !rel.startsWith(`${STATE_DIR}/`)) this.hints.add(rel);
    }
  }

  /** A full scan: the periodic safety net, and the fallback when the watcher is down. */
  private readonly pokeAll = (): void => {
    this.hints = 'all';
    this.poke();
  };

  private sleepUntilPoked(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }

  private retryIn(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.poke, ms);
  }

  private async oneRound(): Promise<void> {
    const { engine, log } = this.options;
    let result: RoundResult;
    let activity = false;
    try {
      const hints = this.hints;
      this.hints = new Set();
      activity = hints !== 'all' && hints.size > 0;
      try {
        result = await engine.round(hints === 'all' ? undefined : hints);
      } catch (error) {
        this.hints = 'all'; // the round may not have consumed them: look at everything next time
        throw error;
      }
    } catch (error) {
      // (A damaged state database is not retried: the agent stops, and the next start
      // rebuilds it; see rebuildFolderState.)
      if (error instanceof SyncHalted || isDamageError(error)) {
        this.fatal = error as Error;
        this.stopping = true;
        return;
      }
      if (error instanceof TandemError && error.code === 'UNREACHABLE') {
        if (!this.offline) {
          log(`${error.message}; retrying`);
          // (Kept from an earlier run that ended offline: the outage began then.)
          engine.store.setHubUnreachableSince(engine.store.hubUnreachableSince ?? Date.now());
        }
        this.offline = true;
        this.retryIn(Math.min(1_000 * 2 ** Math.min(this.failures++, 5), 30_000));
        return;
      }
      if (error instanceof TandemError && FATAL_CODES.has(error.code)) {
        // A workspace this agent has synced with, now not found: its user's access was taken
        // away (or it was deleted), whichever of the socket's word and this round came first.
        this.fatal =
          error.code === 'WORKSPACE_NOT_FOUND' && this.reachedHub
            ? TandemError.of(
                'ACCESS_REMOVED',
                JSON.stringify(engine.store.link?.workspaceName ?? this.options.workspaceId),
              )
            : error;
        this.stopping = true;
        return;
      }
      // Anything else: report (once while it lasts), back off and try again; the three trees
      // are the truth.
      const message = await engine.failed(error);
      if (message !== this.lastFailure) log(`sync round failed: ${message}; retrying`);
      this.lastFailure = message;
      this.retryIn(Math.min(1_000 * 2 ** Math.min(this.failures++, 5), 30_000));
      return;
    }
    this.lastFailure = undefined;
    this.options.onRound?.(result);
    if (activity || result.planned > 0) {
      // Watcher events are hints and can be missed or arrive out of order: once activity has
      // settled, one full scan makes sure nothing was.
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(this.pokeAll, SETTLE_SCAN_MS);
    }
    if (this.offline) log('the hub is reachable again');
    if (this.offline || !this.reachedHub) engine.store.setHubUnreachableSince(undefined);
    this.offline = false;
    this.reachedHub = true;
    // Each problem is told once; one that persists is retried on its own schedule, quietly.
    for (const problem of result.reported) log(`${problem.path}: ${problem.message}`);
    if (result.execution.applied > 0) this.idleReported = false;
    if (result.planned > 0) {
      if (result.execution.applied > 0) {
        this.failures = 0;
        this.dirty = true; // keep going until a round plans nothing
      } else {
        // Nothing could be applied (files busy, hub refused): back off instead of spinning,
        // but look again at files still being written as soon as they settle.
        const backoff = Math.min(250 * 2 ** Math.min(this.failures++, 7), 30_000);
        this.retryIn(result.unstable > 0 ? Math.min(backoff, result.retryInMs) : backoff);
      }
    } else if (result.unstable > 0) {
      this.retryIn(Math.min(result.retryInMs, result.problemsDueInMs ?? Infinity));
    } else {
      // Changes left out until their retry is due: look again then.
      if (result.problemsDueInMs !== undefined) this.retryIn(result.problemsDueInMs);
      if (!this.idleReported) {
        this.idleReported = true;
        const unsent =
          result.unsent > 0
            ? `; ${result.unsent} local change(s) not uploaded (view-only access)`
            : '';
        const but = [
          ...(result.problems > 0 ? [`${result.problems} path(s) with problems`] : []),
          ...(result.heldDeletions > 0
            ? [`${result.heldDeletions} local deletion(s) held until confirmed`]
            : []),
        ];
        log(
          but.length > 0
            ? `up to date (seq ${engine.store.cursor}) but for ${but.join(' and ')}${unsent}: see \`tandem status ${this.options.root}\``
            : `up to date (seq ${engine.store.cursor})${unsent}`,
        );
      }
    }
  }
}

/**
 * What `tandem sync --notify` tells the person, and when: files that arrived from another
 * device, conflicts made, workspaces shared with them. Events are gathered into bursts and
 * each burst is one notification: a burst ends after QUIET_MS without a new event, or
 * MAX_WAIT_MS after it began (a long initial sync still says something now and then), so
 * 10,000 arriving files are one notification, never one per file.
 */
import type { Role } from '../protocol/api.js';
import type { Notification, Notifier } from './notifications.js';

export const QUIET_MS = 2_000;
export const MAX_WAIT_MS = 10_000;
/** How many paths a notification names before it says "and N more". */
const NAMED = 3;

export interface SyncNotificationsOptions {
  /** The synced workspace's name now (it may be renamed while the agent runs). */
  readonly workspace: () => string;
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /**
   * Whether a workspace new to the agent is the user's own, made from another device (its
   * creator is the user): its first access event is then no share. Not asked when absent.
   */
  readonly isOwn?: (workspace: string) => Promise<boolean>;
}

export class SyncNotifications {
  private readonly received = new Set<string>();
  private readonly conflicts = new Set<string>();
  private readonly shared = new Map<string, { name: string; role: Role }>();
  /**
   * The workspaces the user could already reach (undefined until known): an access event
   * for one of these is a change of role or name, not a share.
   */
  private known: Set<string> | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly notifier: Notifier,
    private readonly options: SyncNotificationsOptions,
  ) {}

  /** Files placed from the hub (another device's changes). */
  filesReceived(paths: Iterable<string>): void {
    this.add(paths, this.received);
  }

  /** Paths where both sides changed and the local version was kept as a conflicted copy. */
  conflictsMade(paths: Iterable<string>): void {
    this.add(paths, this.conflicts);
  }

  /** The workspaces the user can reach as the agent starts (asked of the hub). */
  knownWorkspaces(ids: Iterable<string>): void {
    this.known = new Set(ids);
  }

  /**
   * The hub says the user has `role` on another workspace: new to the user, it was just
   * shared with them. (Until the known workspaces are known, nothing can be told apart.)
   */
  async access(workspace: string, role: Role, name: string): Promise<void> {
    if (this.known === undefined || this.known.has(workspace)) return;
    this.known.add(workspace);
    if (await this.options.isOwn?.(workspace).catch(() => false)) return;
    this.shared.set(workspace, { name, role });
    this.touch();
  }

  /** Shows what is gathered now (at the end of a burst, and when the agent stops). */
  flush(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    const notification = this.summary();
    this.received.clear();
    this.conflicts.clear();
    this.shared.clear();
    if (notification) this.notifier.show(notification);
  }

  private add(paths: Iterable<string>, into: Set<string>): void {
    const before = into.size;
    for (const path of paths) into.add(path);
    if (into.size > before) this.touch();
  }

  /** An event arrived: the burst goes on (and began now, if none was under way). */
  private touch(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.options.quietMs ?? QUIET_MS);
    this.maxTimer ??= setTimeout(() => this.flush(), this.options.maxWaitMs ?? MAX_WAIT_MS);
  }

  private summary(): Notification | undefined {
    const lines: string[] = [];
    if (this.conflicts.size === 1) {
      lines.push(
        `Conflict on ${[...this.conflicts][0]}: it changed here and on another device; both versions are kept (yours as a conflicted copy)`,
      );
    } else if (this.conflicts.size > 1) {
      lines.push(
        `${this.conflicts.size} conflicts, both versions kept (yours as conflicted copies): ${named(this.conflicts)}`,
      );
    }
    if (this.received.size === 1) {
      lines.push(`${[...this.received][0]} arrived from another device`);
    } else if (this.received.size > 1) {
      lines.push(`${this.received.size} files arrived from other devices: ${named(this.received)}`);
    }
    for (const { name, role } of this.shared.values())
      lines.push(
        `"${name}" was shared with you as ${role}: sync it with \`tandem sync DIR --workspace ${name}\``,
      );
    if (lines.length === 0) return undefined;
    const onlyShares = this.received.size === 0 && this.conflicts.size === 0;
    return {
      title: onlyShares ? 'Tandem: shared with you' : `Tandem: ${this.options.workspace()}`,
      body: lines.join('\n'),
      ...(this.conflicts.size > 0 ? { urgent: true } : {}),
    };
  }
}

/** The first few paths, and how many more. */
function named(paths: ReadonlySet<string>): string {
  const first = [...paths].slice(0, NAMED).join(', ');
  return paths.size > NAMED ? `${first} and ${paths.size - NAMED} more` : first;
}

/**
 * Desktop notifications: where `tandem sync --notify` shows what it has to say. Behind the
 * `Notifier` interface so that the agent never depends on a desktop being there, and tests
 * observe what would be shown (TANDEM_NOTIFY_LOG). What to say, and how bursts are summed
 * up, is sync-notifications.ts's job; this module only shows.
 */
import { spawn } from 'node:child_process';
import { accessSync, appendFileSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Notification {
  readonly title: string;
  readonly body: string;
  /** A conflict asks for more attention than arriving files. */
  readonly urgent?: boolean;
}

export interface Notifier {
  show(notification: Notification): void;
}

/**
 * Shows notifications through `notify-send` (libnotify: GNOME, KDE, Xfce and most Linux
 * desktops). Never fails the agent: without notify-send, or when it cannot reach a desktop,
 * it says so once through `log` and stays quiet after.
 */
export class NotifySendNotifier implements Notifier {
  private warned = false;

  constructor(
    private readonly command: string,
    private readonly log: (line: string) => void,
  ) {}

  show({ title, body, urgent }: Notification): void {
    const child = spawn(
      this.command,
      ['--app-name=Tandem', `--urgency=${urgent ? 'critical' : 'normal'}`, title, body],
      { stdio: 'ignore' },
    );
    child.on('error', (error) => this.warn(`cannot run ${this.command} (${error.message})`));
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) this.warn(`${this.command} exited with code ${code}`);
    });
    child.unref();
  }

  private warn(why: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log(`desktop notifications may not show: ${why} (is a desktop session running?)`);
  }
}

/**
 * Appends each notification as one JSON line to a file: what tests read, and a record for
 * machines without a desktop. A line that cannot be written is dropped (after one warning).
 */
export class LogNotifier implements Notifier {
  private warned = false;

  constructor(
    private readonly file: string,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  show(notification: Notification): void {
    try {
      appendFileSync(
        this.file,
        `${JSON.stringify({ time: new Date(this.now()).toISOString(), ...notification })}\n`,
      );
    } catch (error) {
      if (this.warned) return;
      this.warned = true;
      this.log(`cannot write notifications to ${this.file}: ${(error as Error).message}`);
    }
  }
}

/** Shows nothing: notifications were asked for but cannot be shown here (said once). */
const SILENT: Notifier = { show: () => {} };

/**
 * The notifier for this machine: the file TANDEM_NOTIFY_LOG names when set, else notify-send
 * when it is on the PATH, else none (and `log` says why, once).
 */
export function desktopNotifier(
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Notifier {
  const file = env.TANDEM_NOTIFY_LOG;
  if (file) return new LogNotifier(file, log);
  const command = onPath('notify-send', env.PATH ?? '');
  if (command) return new NotifySendNotifier(command, log);
  log(
    'desktop notifications are off: notify-send was not found on the PATH (on Debian or Ubuntu: apt install libnotify-bin)',
  );
  return SILENT;
}

/** The full path of the executable `name` in one of PATH's folders, if any. */
function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

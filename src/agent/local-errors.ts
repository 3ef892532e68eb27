/**
 * Local trouble in words. A write the disk refuses (full, read-only, not permitted) is a
 * problem of the path being written, said so that a person knows what to do ("the disk
 * holding ~/Docs is full: 0 bytes free, 48 MB needed"), never a system error code twice
 * over; and since such trouble ends when someone frees space or fixes a permission, which
 * no event announces, its retry comes soon (every DISK_RETRY_MS at most) instead of backing
 * off for minutes.
 */
import { errorCode, type FileSystem } from '../fs/file-system.js';
import { PathProblem } from './path-problem.js';

/** The errors of a write that the disk, not the file, refuses. */
export const DISK_WRITE_CODES: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EROFS',
  'EACCES',
  'EPERM',
]);

/** A path that cannot be written for lack of space or rights is tried again this often. */
export const DISK_RETRY_MS = 10_000;

/**
 * Bytes kept free on the disk of a synced folder: a download that would leave less is not
 * started, so that the agent's own state database (which records every download) can still
 * be written, and the disk is not filled by a file that cannot arrive whole anyway.
 */
export const KEEP_FREE_BYTES = 1024 * 1024;

/** What to do about a write the disk has no room for. */
const FREE_SOME_SPACE = 'free some space: it is tried again every few seconds';

/** A problem of a path that is the disk's (space, rights), retried every DISK_RETRY_MS. */
export class DiskProblem extends PathProblem {
  readonly retryWithinMs = DISK_RETRY_MS;
}

const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'the disk quota is used up',
  EFBIG: 'the file is too large for this disk',
  EROFS: 'the disk is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error (is the disk failing?)',
  EINVAL: 'invalid argument',
  ENOENT: 'no such file or folder',
  EEXIST: 'something is already there',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
  ENOTEMPTY: 'the folder is not empty',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long for this disk',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on this machine',
  EBUSY: 'busy',
  EXDEV: 'on another disk',
  SQLITE_FULL: 'no space left on the disk',
  SQLITE_READONLY: 'the database is read-only',
  SQLITE_IOERR: 'input/output error (is the disk failing?)',
};

/**
 * What went wrong in a local operation, in words: the cause, then the operation and the
 * file it was on (relative to `root` when inside it), e.g. `permission denied (rename
 * docs/a.txt)`. An error without a code gives its own message.
 */
export function describeLocalError(error: unknown, root?: string): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (!code) return message;
  // Node's message is "CODE: description, syscall 'path'": the description is used when the
  // code has no words here, and the syscall when the error does not carry it.
  const described = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  const cause = CAUSES[code] ?? (described.split(', ')[0] || code);
  const err = error as NodeJS.ErrnoException & { dest?: string };
  const syscall = err.syscall ?? /^[^,]*, (\w+)/.exec(described)?.[1];
  const file = err.dest ?? err.path;
  const where = file && root ? shortPath(file, root) : file;
  const what = [syscall, where].filter(Boolean).join(' ');
  return what ? `${cause} (${what})` : cause;
}

/** `path` relative to `root` when inside it; temporary files are named by their folder. */
function shortPath(path: string, root: string): string {
  if (!path.startsWith(`${root}/`)) return path;
  const rel = path.slice(root.length + 1);
  return rel.startsWith('.tandem/tmp/') ? 'a temporary file in .tandem/tmp' : rel;
}

/** True when the error is the disk refusing a write (DISK_WRITE_CODES, or SQLite's full disk). */
export function isDiskRefusal(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (DISK_WRITE_CODES.has(code) || code === 'SQLITE_FULL');
}

/** Bytes the way people read them: `0 bytes`, `12 bytes`, `3.4 kB`, `48 MB`, `1.2 GB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * The problem of a write to `folder` refused by its disk (`error` one of DISK_WRITE_CODES),
 * in words, with the free space the disk reports now when it is about space. `needed` is
 * what the write needed in all, when known.
 */
export async function diskProblem(
  fs: FileSystem,
  folder: string,
  error: unknown,
  needed?: number,
): Promise<DiskProblem> {
  const code = errorCode(error);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'SQLITE_FULL': {
      const free = await fs.freeSpace(folder).catch(() => undefined);
      return new DiskProblem(
        `${spaceMessage(folder, free, needed, code === 'EDQUOT')}; ${FREE_SOME_SPACE}`,
      );
    }
    case 'EROFS':
      return new DiskProblem(
        `the disk holding ${folder} is read-only: nothing can be written there until it is mounted for writing`,
      );
    case 'EACCES':
    case 'EPERM':
      return new DiskProblem(
        `cannot write in ${folder}: ${describeLocalError(error, folder)}; check that this user may write there`,
      );
    default:
      return new DiskProblem(`cannot write in ${folder}: ${describeLocalError(error, folder)}`);
  }
}

/** "the disk holding F is full: 0 bytes free, 48 MB needed" (the figures known). */
export function spaceMessage(
  folder: string,
  free: number | undefined,
  needed: number | undefined,
  quota = false,
): string {
  const figures: string[] = [];
  if (free !== undefined) figures.push(`${formatBytes(free)} free`);
  if (needed !== undefined) figures.push(`${formatBytes(needed)} needed`);
  const reserve =
    free !== undefined && needed !== undefined && free >= needed
      ? ` (and ${formatBytes(KEEP_FREE_BYTES)} kept free for .tandem)`
      : '';
  const what = quota
    ? `the disk quota for ${folder} is used up`
    : `the disk holding ${folder} is full`;
  return `${what}${figures.length > 0 ? `: ${figures.join(', ')}${reserve}` : ''}`;
}

/**
 * The free space of a disk, taken once and spent as downloads are started: a batch of files
 * costs one statfs, not one per file. Downloads run several at once, so each takes its
 * bytes before it writes any.
 */
export class SpaceBudget {
  private constructor(
    private readonly folder: string,
    private free: number | undefined,
  ) {}

  /** The space free now on the disk holding `folder` (unknown: every take succeeds). */
  static async of(fs: FileSystem, folder: string): Promise<SpaceBudget> {
    return new SpaceBudget(folder, await fs.freeSpace(folder).catch(() => undefined));
  }

  /** Takes `bytes` for a file, or throws a DiskProblem when they would not leave KEEP_FREE_BYTES. */
  take(bytes: number): void {
    if (this.free === undefined || bytes === 0) return;
    if (bytes + KEEP_FREE_BYTES > this.free)
      throw new DiskProblem(`${spaceMessage(this.folder, this.free, bytes)}; ${FREE_SOME_SPACE}`);
    this.free -= bytes;
  }
}

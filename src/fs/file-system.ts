/**
 * The narrow interface through which the agent reaches the disk. Two implementations pass
 * the same contract suite: the real one (node:fs) and an in-memory one for property tests.
 *
 * Paths are absolute and `/`-separated. No method follows a symbolic link at the final
 * component (lstat semantics); callers that care about links in ancestors check them first.
 * Errors are thrown as Node-style errors with `code` (ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, ...).
 */

export const STAT_KINDS = ['file', 'dir', 'symlink', 'other'] as const;
export type StatKind = (typeof STAT_KINDS)[number];

/** What an `other` is: never synced, and never opened (opening a pipe blocks, a device acts). */
export const SPECIAL_KINDS = ['fifo', 'socket', 'char-device', 'block-device'] as const;
export type SpecialKind = (typeof SPECIAL_KINDS)[number];

export interface Stat {
  readonly kind: StatKind;
  readonly size: number;
  /** Whole milliseconds (rounded from `mtimeNs`): what an entry carries. */
  readonly mtimeMs: number;
  /** The modification time in nanoseconds since the epoch, as the filesystem holds it. */
  readonly mtimeNs: bigint;
  /**
   * The inode's change time in nanoseconds since the epoch: moved by the kernel's clock on
   * every write, truncation, chmod, utimes and rename, and settable by no user (short of
   * changing the clock). A file whose size and mtime were put back still has a new ctime.
   * 0 where the filesystem keeps none.
   */
  readonly ctimeNs: bigint;
  readonly ino: number;
  /** Permission bits (0o777 mask). */
  readonly mode: number;
  /** For kind `other`, which kind of special file (absent when unknown). */
  readonly special?: SpecialKind;
}

export interface ReadHandle {
  /** Reads up to `length` bytes at `position`; returns how many were read (0 at end). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  stat(): Promise<Stat>;
  close(): Promise<void>;
}

export interface WriteHandle {
  /** Writes all of `data` at the end of what `write` wrote so far. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Writes all of `data` (one buffer, or parts written one after another in one call) at
   * `position`. Writes to different ranges may run concurrently.
   */
  writeAt(data: Uint8Array | readonly Uint8Array[], position: number): Promise<void>;
  /**
   * Sets the permission bits and the modification time (ms). Before `sync`, so that they
   * are made durable with the data.
   */
  setMeta(mode: number, mtimeMs: number): Promise<void>;
  /**
   * The file as it is now (also after it is renamed: same inode, size and mtime; its ctime
   * moves with the rename).
   */
  stat(): Promise<Stat>;
  /** Flushes the file's data to stable storage. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Durability for many writes at once: once `flush` resolves, every write made to the
 * filesystem since the barrier was opened (files' data and metadata, renames, new folders)
 * is on stable storage. `flush` throws if any of them failed to reach the disk.
 */
export interface Barrier {
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A folder's names, as `readNames` lists them. */
export interface FolderNames {
  /** The names that are valid UTF-8, as strings. */
  readonly names: string[];
  /**
   * The names whose bytes are not valid UTF-8: no string spells them (a decoder would put
   * U+FFFD in their place, the name of another file or of none), so they are given as bytes,
   * to be reported, and never opened.
   */
  readonly undecodable: Uint8Array[];
}

export interface FileSystem {
  /** The entry at `path` without following a final link; undefined when nothing is there. */
  lstat(path: string): Promise<Stat | undefined>;
  /** A folder's names, decoded as UTF-8 (a name that is not valid UTF-8 comes out mangled). */
  readdir(path: string): Promise<string[]>;
  /** A folder's names, telling those that are not valid UTF-8 apart (see FolderNames). */
  readNames(path: string): Promise<FolderNames>;
  readlink(path: string): Promise<string>;
  /**
   * Opens a regular file for reading. Anything else (a folder, a link, a pipe, a socket, a
   * device) is refused with EINVAL and is never opened: opening a pipe blocks until a writer
   * comes, and opening a device can act on it.
   */
  openRead(path: string): Promise<ReadHandle>;
  /** Creates a new file (fails with EEXIST if something is there) and opens it for writing. */
  createWrite(path: string, mode: number): Promise<WriteHandle>;
  /** POSIX rename: atomically replaces a file at `to`. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /**
   * Creates a folder private to its owner (0o700, less the umask): the caller gives it its
   * exact mode with `chmod`, so it is never wider than that on the way.
   */
  mkdir(path: string): Promise<void>;
  /**
   * Sets the permission bits (`mode & 0o777`) of the file or folder at `path`, exactly (no
   * umask applies). A link is refused with ELOOP, never followed: chmod would change its
   * target.
   */
  chmod(path: string, mode: number): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  /** Makes a folder's entries (renames, creations) durable. */
  syncDir(path: string): Promise<void>;
  /**
   * A barrier over the filesystem holding `path`, to open before the writes it must cover;
   * undefined where there is none (then each file is fsynced on its own).
   */
  openBarrier(path: string): Promise<Barrier | undefined>;
  /**
   * Bytes that may still be written on the filesystem holding `path` by this user (statfs's
   * available blocks); undefined where that cannot be known.
   */
  freeSpace(path: string): Promise<number | undefined>;
  /** Removes a tree (for the agent's own temporary folder only). */
  removeTree(path: string): Promise<void>;
  /**
   * True when the filesystem holding the folder `path` looks names up without regard to case
   * (macOS's and Windows' default), where two names that differ only in case are one file.
   * May create and remove a probe file in `path`.
   */
  caseInsensitive(path: string): Promise<boolean>;
}

/** A Node-style error with a code, as the real filesystem throws. */
export function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: ${syscall} '${path}'`) as NodeJS.ErrnoException;
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}

export function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Reads a whole (small) file. */
export async function readWholeFile(fs: FileSystem, path: string): Promise<Buffer> {
  const handle = await fs.openRead(path);
  try {
    const parts: Buffer[] = [];
    let position = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      const n = await handle.read(buffer, 0, buffer.length, position);
      if (n === 0) break;
      parts.push(buffer.subarray(0, n));
      position += n;
    }
    return Buffer.concat(parts);
  } finally {
    await handle.close();
  }
}

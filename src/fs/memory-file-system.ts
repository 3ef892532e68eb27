/**
 * An in-memory filesystem with POSIX-like semantics (inodes, rename replacing files, ENOTEMPTY,
 * links that are never followed), for property tests of the planner and executor. Time comes
 * from an injected clock. Ancestors that are links or files fail with ENOTDIR: the agent must
 * never rely on traversing a link, and this makes any attempt visible.
 *
 * Folders are made 0o700, as the real one makes them (its umask can only narrow that), and
 * every file and folder keeps the mode it is given (`chmod`, `setMeta`).
 *
 * Every node has a change time (ctime) that moves, as the kernel's does, with every write,
 * truncation, chmod, utimes and rename, strictly forwards (a step of 1 ns when the clock has
 * not moved): no test can put it back.
 *
 * With `caseInsensitive`, it behaves as the default disks of macOS and Windows do: names are
 * kept as they were created, but looked up without regard to case, so `Notes.txt` and
 * `notes.txt` are one file, and renaming one to the other only changes how it is spelled.
 */
import {
  fsError,
  type Barrier,
  type FileSystem,
  type FolderNames,
  type ReadHandle,
  type Stat,
  type WriteHandle,
} from './file-system.js';

interface MemNode {
  kind: 'file' | 'dir' | 'symlink';
  ino: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  data: Buffer;
  target: string;
  /** Entries by their lookup key (the name itself, or folded), each with its spelling. */
  children: Map<string, { name: string; node: MemNode }>;
}

export interface MemoryFileSystemOptions {
  /** Look names up without regard to case (macOS, Windows), keeping their spelling. */
  readonly caseInsensitive?: boolean;
}

/** An ENOSPC as a full disk reports it. */
function noSpace(syscall: string, path: string): NodeJS.ErrnoException {
  const error = fsError('ENOSPC', syscall, path);
  error.message = `ENOSPC: no space left on device, ${syscall}`;
  return error;
}

export class MemoryFileSystem implements FileSystem {
  private nextIno = 1;
  private lastChangeNs = 0n;
  private readonly root: MemNode;

  private readonly fold: (name: string) => string;
  /**
   * The bytes of file data this disk holds at most (unset: no limit). A write past it fails
   * with ENOSPC, as a full disk's does; tests may change it to free space.
   */
  capacity: number | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly options: MemoryFileSystemOptions = {},
  ) {
    this.root = this.node('dir', 0o755);
    this.fold = options.caseInsensitive ? (name) => name.toLowerCase() : (name) => name;
  }

  private child(dir: MemNode, name: string): MemNode | undefined {
    return dir.children.get(this.fold(name))?.node;
  }

  private setChild(dir: MemNode, name: string, node: MemNode): void {
    dir.children.set(this.fold(name), { name, node });
  }

  private deleteChild(dir: MemNode, name: string): void {
    dir.children.delete(this.fold(name));
  }

  async caseInsensitive(path: string): Promise<boolean> {
    this.get(path, 'stat');
    return this.options.caseInsensitive === true;
  }

  /**
   * The time of a change now, in ns: 1 ns past the clock's millisecond, or past the last
   * change if the clock is not past it. (Never a whole second, as a clock of nanoseconds
   * almost never is: whole seconds are the mark of a coarse filesystem, see the scanner.)
   */
  private changeTime(): bigint {
    const clock = BigInt(Math.floor(this.now())) * 1_000_000n;
    this.lastChangeNs = (clock > this.lastChangeNs ? clock : this.lastChangeNs) + 1n;
    return this.lastChangeNs;
  }

  /** A write: the mtime and ctime move to now. */
  private static written(node: MemNode, at: bigint): void {
    node.mtimeNs = at;
    node.ctimeNs = at;
  }

  private node(kind: MemNode['kind'], mode: number): MemNode {
    const at = this.changeTime();
    return {
      kind,
      ino: this.nextIno++,
      mtimeNs: at,
      ctimeNs: at,
      mode,
      data: Buffer.alloc(0),
      target: '',
      children: new Map(),
    };
  }

  private split(path: string): string[] {
    if (!path.startsWith('/')) throw fsError('EINVAL', 'path', path);
    return path.split('/').filter((s) => s !== '');
  }

  /** The folder holding `path`'s last segment, and that segment. */
  private parentOf(path: string, syscall: string): { dir: MemNode; name: string } {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EBUSY', syscall, path);
    let dir = this.root;
    for (const part of parts) {
      const next = this.child(dir, part);
      if (!next) throw fsError('ENOENT', syscall, path);
      if (next.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
      dir = next;
    }
    return { dir, name };
  }

  private find(path: string, syscall: string): MemNode | undefined {
    if (this.split(path).length === 0) return this.root;
    const { dir, name } = this.parentOf(path, syscall);
    return this.child(dir, name);
  }

  private get(path: string, syscall: string): MemNode {
    const found = this.find(path, syscall);
    if (!found) throw fsError('ENOENT', syscall, path);
    return found;
  }

  private static stat(node: MemNode): Stat {
    return {
      kind: node.kind,
      size:
        node.kind === 'file'
          ? node.data.length
          : node.kind === 'symlink'
            ? Buffer.byteLength(node.target)
            : 4096,
      mtimeMs: Math.round(Number(node.mtimeNs) / 1e6),
      mtimeNs: node.mtimeNs,
      ctimeNs: node.ctimeNs,
      ino: node.ino,
      mode: node.mode,
    };
  }

  async lstat(path: string): Promise<Stat | undefined> {
    try {
      const found = this.find(path, 'lstat');
      return found ? MemoryFileSystem.stat(found) : undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  async readdir(path: string): Promise<string[]> {
    const dir = this.get(path, 'readdir');
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', 'readdir', path);
    return [...dir.children.values()].map((entry) => entry.name);
  }

  /**
   * As readdir; a name holding unpaired surrogates U+DC80-U+DCFF stands for a name on disk
   * whose bytes are not UTF-8 (each such surrogate one byte 0x80-0xFF, as Python's
   * `surrogateescape` writes them), and is listed as undecodable, with those bytes.
   */
  async readNames(path: string): Promise<FolderNames> {
    const out: FolderNames = { names: [], undecodable: [] };
    for (const name of await this.readdir(path)) {
      if (/\p{Cs}/u.test(name)) out.undecodable.push(escapedBytes(name));
      else out.names.push(name);
    }
    return out;
  }

  async readlink(path: string): Promise<string> {
    const link = this.get(path, 'readlink');
    if (link.kind !== 'symlink') throw fsError('EINVAL', 'readlink', path);
    return link.target;
  }

  async openRead(path: string): Promise<ReadHandle> {
    const file = this.get(path, 'open');
    if (file.kind === 'symlink') throw fsError('ELOOP', 'open', path);
    if (file.kind !== 'file') throw fsError('EISDIR', 'open', path);
    return {
      read: async (buffer, offset, length, position) => {
        const n = Math.max(0, Math.min(length, file.data.length - position));
        file.data.copy(buffer, offset, position, position + n);
        return n;
      },
      stat: async () => MemoryFileSystem.stat(file),
      close: async () => {},
    };
  }

  async createWrite(path: string, mode: number): Promise<WriteHandle> {
    const { dir, name } = this.parentOf(path, 'open');
    if (this.child(dir, name)) throw fsError('EEXIST', 'open', path);
    const file = this.node('file', mode);
    this.setChild(dir, name, file);
    const parts: Buffer[] = [];
    // (A write past the capacity writes nothing, and fails as a full disk does.)
    const room = (end: number) => {
      if (this.capacity !== undefined && end > file.data.length)
        if (this.used() + end - file.data.length > this.capacity) throw noSpace('write', path);
    };
    return {
      write: async (data) => {
        room(file.data.length + data.length);
        parts.push(Buffer.from(data));
        file.data = Buffer.concat([file.data, ...parts.splice(0)]);
        MemoryFileSystem.written(file, this.changeTime());
      },
      writeAt: async (parts, position) => {
        const data = parts instanceof Uint8Array ? parts : Buffer.concat(parts);
        const end = position + data.length;
        room(end);
        if (file.data.length < end)
          file.data = Buffer.concat([file.data, Buffer.alloc(end - file.data.length)]);
        file.data.set(data, position);
        MemoryFileSystem.written(file, this.changeTime());
      },
      setMeta: async (mode, mtimeMs) => {
        file.mode = mode & 0o777;
        file.mtimeNs = BigInt(Math.floor(mtimeMs)) * 1_000_000n;
        file.ctimeNs = this.changeTime();
      },
      stat: async () => MemoryFileSystem.stat(file),
      sync: async () => {},
      close: async () => {},
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.parentOf(from, 'rename');
    const moving = this.child(source.dir, source.name);
    if (!moving) throw fsError('ENOENT', 'rename', from);
    const target = this.parentOf(to, 'rename');
    const existing = this.child(target.dir, target.name);
    if (existing === moving) {
      // The same entry: on a case-insensitive disk, a new spelling of its name.
      if (source.dir === target.dir) this.setChild(target.dir, target.name, moving);
      return;
    }
    if (moving.kind === 'dir' && (to === from || this.inside(to, from)))
      throw fsError('EINVAL', 'rename', to);
    if (existing) {
      if (existing.kind === 'dir' && moving.kind !== 'dir') throw fsError('EISDIR', 'rename', to);
      if (existing.kind !== 'dir' && moving.kind === 'dir') throw fsError('ENOTDIR', 'rename', to);
      if (existing.kind === 'dir' && existing.children.size > 0)
        throw fsError('ENOTEMPTY', 'rename', to);
    }
    this.deleteChild(source.dir, source.name);
    if (existing) this.deleteChild(target.dir, target.name);
    this.setChild(target.dir, target.name, moving);
    moving.ctimeNs = this.changeTime();
  }

  /** `path` lies below `dir`, as this filesystem compares names. */
  private inside(path: string, dir: string): boolean {
    const a = this.split(path).map(this.fold);
    const b = this.split(dir).map(this.fold);
    return a.length > b.length && b.every((part, i) => a[i] === part);
  }

  async unlink(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'unlink');
    const found = this.child(dir, name);
    if (!found) throw fsError('ENOENT', 'unlink', path);
    if (found.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    this.deleteChild(dir, name);
  }

  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'rmdir');
    const found = this.child(dir, name);
    if (!found) throw fsError('ENOENT', 'rmdir', path);
    if (found.kind !== 'dir') throw fsError('ENOTDIR', 'rmdir', path);
    if (found.children.size > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
    this.deleteChild(dir, name);
  }

  async mkdir(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'mkdir');
    if (this.child(dir, name)) throw fsError('EEXIST', 'mkdir', path);
    this.setChild(dir, name, this.node('dir', 0o700));
  }

  async chmod(path: string, mode: number): Promise<void> {
    const node = this.get(path, 'chmod');
    if (node.kind === 'symlink') throw fsError('ELOOP', 'chmod', path);
    node.mode = mode & 0o777;
    node.ctimeNs = this.changeTime();
  }

  async symlink(target: string, path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'symlink');
    if (this.child(dir, name)) throw fsError('EEXIST', 'symlink', path);
    const link = this.node('symlink', 0o777);
    link.target = target;
    this.setChild(dir, name, link);
  }

  async syncDir(path: string): Promise<void> {
    this.get(path, 'fsync');
  }

  async openBarrier(path: string): Promise<Barrier | undefined> {
    this.get(path, 'open');
    return { flush: async () => {}, close: async () => {} };
  }

  async freeSpace(path: string): Promise<number | undefined> {
    this.get(path, 'statfs');
    return this.capacity === undefined ? undefined : Math.max(0, this.capacity - this.used());
  }

  /** Bytes of file data held. */
  private used(): number {
    let total = 0;
    const walk = (node: MemNode) => {
      total += node.data.length;
      for (const { node: child } of node.children.values()) walk(child);
    };
    walk(this.root);
    return total;
  }

  async removeTree(path: string): Promise<void> {
    try {
      const { dir, name } = this.parentOf(path, 'rm');
      this.deleteChild(dir, name);
    } catch {
      // like rm -rf: nothing there is fine
    }
  }

  // Helpers for tests, acting as a user would (not used by the agent).

  /** Writes a whole file in place, as an editor that truncates and rewrites does. */
  async writeFile(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
    const { dir, name } = this.parentOf(path, 'open');
    const existing = this.child(dir, name);
    if (existing && existing.kind !== 'file') throw fsError('EISDIR', 'open', path);
    const file = existing ?? this.node('file', mode);
    file.data = Buffer.from(data);
    MemoryFileSystem.written(file, this.changeTime());
    if (!existing) this.setChild(dir, name, file);
  }

  /**
   * Sets a file's mtime (ms), as `touch -d` or `touch -r` does: only the ctime tells that it
   * happened.
   */
  async utimes(path: string, mtimeMs: number): Promise<void> {
    const node = this.get(path, 'utimes');
    node.mtimeNs = BigInt(Math.floor(mtimeMs)) * 1_000_000n;
    node.ctimeNs = this.changeTime();
  }

  async readFile(path: string): Promise<Buffer> {
    const file = this.get(path, 'open');
    if (file.kind !== 'file') throw fsError('EISDIR', 'open', path);
    return Buffer.from(file.data);
  }

  /** Every path under `dir` (relative, `/`-separated) with what it holds. */
  async snapshot(
    dir: string,
  ): Promise<Map<string, { kind: string; data?: string; target?: string; mode?: number }>> {
    const out = new Map<string, { kind: string; data?: string; target?: string; mode?: number }>();
    const walk = (node: MemNode, prefix: string) => {
      for (const { name, node: child } of node.children.values()) {
        const path = prefix === '' ? name : `${prefix}/${name}`;
        if (child.kind === 'file')
          out.set(path, { kind: 'file', data: child.data.toString('utf8'), mode: child.mode });
        else if (child.kind === 'symlink') out.set(path, { kind: 'symlink', target: child.target });
        else {
          out.set(path, { kind: 'dir', mode: child.mode });
          walk(child, path);
        }
      }
    };
    walk(this.get(dir, 'snapshot'), '');
    return out;
  }
}

/** The bytes a `surrogateescape` string stands for (other unpaired surrogates as U+FFFD). */
function escapedBytes(name: string): Uint8Array {
  const parts: Buffer[] = [];
  for (const char of name) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xdc80 && code <= 0xdcff)
      parts.push(Buffer.from([code - 0xdc00]));
    else parts.push(Buffer.from(char, 'utf8'));
  }
  return Buffer.concat(parts);
}

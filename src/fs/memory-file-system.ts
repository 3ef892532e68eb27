/**
 * An in-memory filesystem with POSIX-like semantics (inodes, rename replacing files, ENOTEMPTY,
 * links that are never followed), for property tests of the planner and executor. Time comes
 * from an injected clock. Ancestors that are links or files fail with ENOTDIR: the agent must
 * never rely on traversing a link, and this makes any attempt visible.
 */
import {
  fsError,
  type Barrier,
  type FileSystem,
  type ReadHandle,
  type Stat,
  type WriteHandle,
} from './file-system.js';

interface MemNode {
  kind: 'file' | 'dir' | 'symlink';
  ino: number;
  mtimeMs: number;
  mode: number;
  data: Buffer;
  target: string;
  children: Map<string, MemNode>;
}

export class MemoryFileSystem implements FileSystem {
  private nextIno = 1;
  private readonly root: MemNode;

  constructor(private readonly now: () => number = Date.now) {
    this.root = this.node('dir', 0o755);
  }

  private node(kind: MemNode['kind'], mode: number): MemNode {
    return {
      kind,
      ino: this.nextIno++,
      mtimeMs: this.now(),
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
      const next = dir.children.get(part);
      if (!next) throw fsError('ENOENT', syscall, path);
      if (next.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
      dir = next;
    }
    return { dir, name };
  }

  private find(path: string, syscall: string): MemNode | undefined {
    if (this.split(path).length === 0) return this.root;
    const { dir, name } = this.parentOf(path, syscall);
    return dir.children.get(name);
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
      mtimeMs: node.mtimeMs,
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
    return [...dir.children.keys()];
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
    if (dir.children.has(name)) throw fsError('EEXIST', 'open', path);
    const file = this.node('file', mode);
    dir.children.set(name, file);
    const parts: Buffer[] = [];
    return {
      write: async (data) => {
        parts.push(Buffer.from(data));
        file.data = Buffer.concat([file.data, ...parts.splice(0)]);
        file.mtimeMs = this.now();
      },
      writeAt: async (parts, position) => {
        const data = parts instanceof Uint8Array ? parts : Buffer.concat(parts);
        const end = position + data.length;
        if (file.data.length < end)
          file.data = Buffer.concat([file.data, Buffer.alloc(end - file.data.length)]);
        file.data.set(data, position);
        file.mtimeMs = this.now();
      },
      setMeta: async (mode, mtimeMs) => {
        file.mode = mode & 0o777;
        file.mtimeMs = Math.floor(mtimeMs);
      },
      stat: async () => MemoryFileSystem.stat(file),
      sync: async () => {},
      close: async () => {},
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.parentOf(from, 'rename');
    const moving = source.dir.children.get(source.name);
    if (!moving) throw fsError('ENOENT', 'rename', from);
    const target = this.parentOf(to, 'rename');
    if (moving.kind === 'dir' && (to === from || to.startsWith(`${from}/`)))
      throw fsError('EINVAL', 'rename', to);
    const existing = target.dir.children.get(target.name);
    if (existing === moving) return;
    if (existing) {
      if (existing.kind === 'dir' && moving.kind !== 'dir') throw fsError('EISDIR', 'rename', to);
      if (existing.kind !== 'dir' && moving.kind === 'dir') throw fsError('ENOTDIR', 'rename', to);
      if (existing.kind === 'dir' && existing.children.size > 0)
        throw fsError('ENOTEMPTY', 'rename', to);
    }
    source.dir.children.delete(source.name);
    target.dir.children.set(target.name, moving);
  }

  async unlink(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'unlink');
    const found = dir.children.get(name);
    if (!found) throw fsError('ENOENT', 'unlink', path);
    if (found.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    dir.children.delete(name);
  }

  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'rmdir');
    const found = dir.children.get(name);
    if (!found) throw fsError('ENOENT', 'rmdir', path);
    if (found.kind !== 'dir') throw fsError('ENOTDIR', 'rmdir', path);
    if (found.children.size > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
    dir.children.delete(name);
  }

  async mkdir(path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'mkdir');
    if (dir.children.has(name)) throw fsError('EEXIST', 'mkdir', path);
    dir.children.set(name, this.node('dir', 0o755));
  }

  async symlink(target: string, path: string): Promise<void> {
    const { dir, name } = this.parentOf(path, 'symlink');
    if (dir.children.has(name)) throw fsError('EEXIST', 'symlink', path);
    const link = this.node('symlink', 0o777);
    link.target = target;
    dir.children.set(name, link);
  }

  async syncDir(path: string): Promise<void> {
    this.get(path, 'fsync');
  }

  async openBarrier(path: string): Promise<Barrier | undefined> {
    this.get(path, 'open');
    return { flush: async () => {}, close: async () => {} };
  }

  async removeTree(path: string): Promise<void> {
    try {
      const { dir, name } = this.parentOf(path, 'rm');
      dir.children.delete(name);
    } catch {
      // like rm -rf: nothing there is fine
    }
  }

  // Helpers for tests, acting as a user would (not used by the agent).

  /** Writes a whole file in place, as an editor that truncates and rewrites does. */
  async writeFile(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
    const { dir, name } = this.parentOf(path, 'open');
    const existing = dir.children.get(name);
    if (existing && existing.kind !== 'file') throw fsError('EISDIR', 'open', path);
    const file = existing ?? this.node('file', mode);
    file.data = Buffer.from(data);
    file.mtimeMs = this.now();
    dir.children.set(name, file);
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
      for (const [name, child] of node.children) {
        const path = prefix === '' ? name : `${prefix}/${name}`;
        if (child.kind === 'file')
          out.set(path, { kind: 'file', data: child.data.toString('utf8'), mode: child.mode });
        else if (child.kind === 'symlink') out.set(path, { kind: 'symlink', target: child.target });
        else {
          out.set(path, { kind: 'dir' });
          walk(child, path);
        }
      }
    };
    walk(this.get(dir, 'snapshot'), '');
    return out;
  }
}

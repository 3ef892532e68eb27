/**
 * Chunks as files in a content-addressed folder: `ROOT/ab/cd/abcd...`. A chunk is written to
 * a temporary file, fsynced, renamed into place and its folder fsynced, so a chunk that
 * exists is always whole and durable.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkId } from '../core/ids.js';
import { forEachLimited } from '../core/concurrency.js';
import type { ChunkStore } from './chunk-store.js';

const PARALLEL_WRITES = 16;

export class DiskChunkStore implements ChunkStore {
  private readonly tmp: string;
  private readonly madeDirs = new Set<string>();

  private constructor(private readonly root: string) {
    this.tmp = join(root, 'tmp');
  }

  /** Opens (creating if needed) a store under `root` and clears leftovers of a crash. */
  static async open(root: string): Promise<DiskChunkStore> {
    const store = new DiskChunkStore(root);
    await rm(store.tmp, { recursive: true, force: true });
    await mkdir(store.tmp, { recursive: true });
    return store;
  }

  private pathOf(id: ChunkId): { dir: string; file: string } {
    const dir = join(this.root, id.slice(0, 2), id.slice(2, 4));
    return { dir, file: join(dir, id) };
  }

  async has(ids: readonly ChunkId[]): Promise<Set<ChunkId>> {
    const present = new Set<ChunkId>();
    await forEachLimited(ids, 64, async (id) => {
      try {
        await stat(this.pathOf(id).file);
        present.add(id);
      } catch {
        // absent
      }
    });
    return present;
  }

  async put(
    chunks: readonly { readonly id: ChunkId; readonly bytes: Uint8Array }[],
  ): Promise<void> {
    const touched = new Set<string>();
    await forEachLimited(chunks, PARALLEL_WRITES, async ({ id, bytes }) => {
      const { dir, file } = this.pathOf(id);
      if (await exists(file)) return;
      if (!this.madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      const temp = join(this.tmp, `${id}.${randomBytes(6).toString('hex')}`);
      const handle = await open(
        temp,
        constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC,
        0o644,
      );
      try {
        await handle.write(bytes, 0, bytes.length, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      touched.add(dir);
    });
    // The renames are durable only once their folders are.
    await forEachLimited([...touched], PARALLEL_WRITES, fsyncDir);
  }

  async get(id: ChunkId): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(id).file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async close(): Promise<void> {}
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

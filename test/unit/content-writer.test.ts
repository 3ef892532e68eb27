/**
 * Every chunk a download writes has exactly the length and the hash its manifest names:
 * whether it comes from the hub (one request per file, or one for a batch) or is copied
 * from a local file that the hash cache says holds it.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContentWriter, PathProblem, TempFile } from '../../src/agent/content-writer.js';
import type { HubClient } from '../../src/agent/hub-client.js';
import { StateStore } from '../../src/agent/state-store.js';
import { chunkIdOf, contentIdOf } from '../../src/core/hashing.js';
import type { ChunkId } from '../../src/core/ids.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';

const hello = Buffer.from('hello');
const HELLO: { id: ChunkId; size: number } = { id: chunkIdOf(hello), size: 5 };

async function setup(hub: Map<ChunkId, Buffer>) {
  let clock = 1_700_000_000_000;
  const fs = new MemoryFileSystem(() => clock);
  await fs.mkdir('/r');
  await fs.mkdir('/r/.tandem');
  await fs.mkdir('/r/.tandem/tmp');
  const store = new StateStore(':memory:');
  const fetched: ChunkId[] = [];
  const client = {
    async *fetchChunkParts(_workspace: string, ids: readonly ChunkId[]) {
      for (const id of ids) {
        fetched.push(id);
        const bytes = hub.get(id)!;
        yield { id, parts: [bytes], size: bytes.length };
      }
    },
  } as unknown as HubClient;
  const writer = new ContentWriter({ fs, root: '/r', store, client, workspaceId: 'ws' });
  /** A local file the hash cache says holds `chunks`. */
  const local = async (
    path: string,
    bytes: string | Buffer,
    chunks: { id: ChunkId; size: number }[],
  ) => {
    await fs.writeFile(`/r/${path}`, bytes);
    const stat = (await fs.lstat(`/r/${path}`))!;
    clock += 10_000;
    store.setHash(path, {
      ino: stat.ino,
      size: stat.size,
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
      contentId: contentIdOf(chunks),
      chunks,
      hashedAt: clock,
    });
  };
  const write = async (
    chunks: { id: ChunkId; size: number }[],
    batch = new Map<ChunkId, Uint8Array>(),
  ) => {
    const out = await TempFile.create(fs, '/r/.tandem/tmp');
    const counter = { downloaded: 0 };
    try {
      await writer.write(out, chunks, 0, batch, counter);
      const data = await fs.readFile(out.path);
      return { bytes: data.toString(), data, counter };
    } finally {
      await out.discard(fs);
    }
  };
  return { fs, store, fetched, local, write };
}

describe('writing a download', () => {
  it('copies a chunk from a local file that holds it, without asking the hub', async () => {
    const { local, write, fetched } = await setup(new Map());
    await local('greeting.txt', 'hello', [HELLO]);
    const { bytes, counter } = await write([HELLO]);
    expect(bytes).toBe('hello');
    expect(counter.downloaded).toBe(0);
    expect(fetched).toEqual([]);
  });

  it('downloads a chunk a local file was recorded to hold but does not (a stale or wrong record)', async () => {
    // The same size, the same stat as when recorded: only the hash shows the bytes are others.
    const { local, write, fetched } = await setup(new Map([[HELLO.id, hello]]));
    await local('liar.txt', 'world', [HELLO]);
    const { bytes, counter } = await write([HELLO]);
    expect(bytes).toBe('hello');
    expect(counter.downloaded).toBe(5);
    expect(fetched).toEqual([HELLO.id]);
  });

  it('copies the chunks that match and downloads the one that does not, each at its place', async () => {
    const a = Buffer.from('aaaa');
    const c = Buffer.from('cccc');
    const refs = [a, hello, c].map((bytes) => ({ id: chunkIdOf(bytes), size: bytes.length }));
    const { local, write, fetched } = await setup(new Map([[HELLO.id, hello]]));
    await local('mixed.txt', 'aaaaworldcccc', refs);
    const { bytes } = await write(refs);
    expect(bytes).toBe('aaaahellocccc');
    expect(fetched).toEqual([HELLO.id]);
  });

  it('checks the chunks of a large span too (hashed on the worker thread)', async () => {
    const truth = randomBytes(2 * 1024 * 1024);
    const quarter = truth.length / 4;
    const part = (k: number) => truth.subarray(k * quarter, (k + 1) * quarter);
    const refs = [0, 1, 2, 3].map((k) => ({ id: chunkIdOf(part(k)), size: quarter }));
    const { local, write, fetched } = await setup(new Map([[refs[2]!.id, part(2)]]));
    // Recorded as the four chunks, but the third is no longer what it was.
    const onDisk = Buffer.from(truth);
    onDisk.fill(7, 2 * quarter + 100, 2 * quarter + 200);
    await local('big.bin', onDisk, refs);
    const { data } = await write(refs);
    expect(data.equals(truth)).toBe(true);
    expect(fetched).toEqual([refs[2]!.id]);
  });

  it('refuses a chunk of a batch whose length is not what the manifest says', async () => {
    const { write } = await setup(new Map());
    const claim = { ...HELLO, size: 10 };
    await expect(write([claim], new Map([[HELLO.id, hello]]))).rejects.toThrow(PathProblem);
    await expect(write([claim], new Map([[HELLO.id, hello]]))).rejects.toThrow(
      /manifest gives chunk \w+ 10 bytes, but it has 5/,
    );
  });

  it('refuses a chunk fetched alone whose length is not what the manifest says', async () => {
    const { write } = await setup(new Map([[HELLO.id, hello]]));
    await expect(write([{ ...HELLO, size: 10 }])).rejects.toThrow(
      /manifest gives chunk \w+ 10 bytes, but it has 5/,
    );
  });

  it('refuses a chunk whose bytes are not those of its id', async () => {
    const { write } = await setup(new Map([[HELLO.id, Buffer.from('jello')]]));
    await expect(write([HELLO])).rejects.toThrow(/arrived corrupted/);
  });
});

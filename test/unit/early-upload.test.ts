/**
 * A large file's chunks reach the hub while it is hashed, and a hub that fails meanwhile
 * costs nothing but the early start.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkUploader, EarlyUpload } from '../../src/agent/chunk-uploader.js';
import { hashAndKeep } from '../../src/agent/hasher.js';
import type { HubClient } from '../../src/agent/hub-client.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';
import { simAccount, startSimHub, type SimHub } from '../helpers/sim.js';

describe('early upload', () => {
  let hub: SimHub;
  let client: HubClient;
  let ws: string;

  beforeAll(async () => {
    hub = await startSimHub();
    client = await simAccount(hub, 'early', 'e', true);
    ws = (await client.createWorkspace('early')).id;
  });
  afterAll(async () => hub.close());

  async function hashWithEarlyUpload(bytes: Buffer, uploadClient: HubClient, changed = false) {
    const fs = new MemoryFileSystem();
    await fs.writeFile('/big.bin', bytes);
    const uploader = new ChunkUploader(uploadClient, ws);
    const early = new EarlyUpload(uploader, 'big.bin', bytes.length, async () => changed);
    // Every chunk handed out must come back, and only once nothing holds on to its bytes.
    let out = 0;
    const { manifest } = await hashAndKeep(
      fs,
      '/big.bin',
      undefined,
      bytes.length,
      (chunk, chunkBytes, release) => {
        out++;
        let released = false;
        return early.onChunk(chunk, chunkBytes, () => {
          expect(released).toBe(false);
          released = true;
          out--;
          release();
        });
      },
    );
    await early.end();
    await uploader.finish().catch(() => {});
    expect(out).toBe(0);
    return { manifest, uploaded: uploader.uploaded };
  }

  it('sends every chunk the hub lacks, once, as the file is hashed', async () => {
    const bytes = randomBytes(24 * 1024 * 1024);
    // A duplicated stretch: its chunks are sent once.
    bytes.copy(bytes, 16 * 1024 * 1024, 0, 4 * 1024 * 1024);
    const { manifest, uploaded } = await hashWithEarlyUpload(bytes, client);
    const ids = manifest.chunks.map((c) => c.id);
    expect(await client.missing(ws, ids)).toEqual(new Set());
    const unique = new Map(manifest.chunks.map((c) => [c.id, c.size]));
    expect(uploaded).toBe([...unique.values()].reduce((a, b) => a + b, 0));
    // Hashed again, nothing is missing and nothing is sent.
    expect((await hashWithEarlyUpload(bytes, client)).uploaded).toBe(0);
  });

  it('sends nothing of a file that changed since hashing began (it is still being written)', async () => {
    const { uploaded } = await hashWithEarlyUpload(randomBytes(20 * 1024 * 1024), client, true);
    expect(uploaded).toBe(0);
  });

  it('stops quietly when the hub fails, leaving the upload to the commit', async () => {
    const failing = Object.create(client) as HubClient;
    failing.missing = () => Promise.reject(new Error('hub gone'));
    const bytes = randomBytes(20 * 1024 * 1024);
    const { manifest, uploaded } = await hashWithEarlyUpload(bytes, failing);
    expect(uploaded).toBe(0);
    expect(manifest.size).toBe(bytes.length);
  });
});

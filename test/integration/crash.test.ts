/**
 * Crashes at the worst moments: `kill -9` of an agent in the middle of downloading a large
 * file, and of the hub right after it acknowledged a commit.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HubClient, HttpTransport } from '../../src/agent/hub-client.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import { splitBuffer } from '../../src/core/chunking.js';
import {
  background,
  freePort,
  sha256File,
  startHub,
  stopAll,
  tandem,
  tempDir,
  waitFor,
  twoDevices,
} from '../helpers/processes.js';

afterEach(stopAll);

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let written = 0; written < bytes; written += 4 * 1024 * 1024) {
    const block = randomBytes(Math.min(4 * 1024 * 1024, bytes - written));
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : r())),
  );
}

describe('crash safety', () => {
  it('kill -9 of an agent mid-download leaves no partial file, and the next start completes it', async () => {
    const hub = await startHub();
    const { homeA, homeB } = await twoDevices(hub, 'carol', 'big');
    const root = await tempDir();
    const dirA = join(root, 'A');
    const dirB = join(root, 'B');
    expect(
      (await tandem(['sync', dirA, '--workspace', 'big', '--once'], { home: homeA })).code,
    ).toBe(0);
    const size = 384 * 1024 * 1024;
    await writeRandomFile(join(dirA, 'video.bin'), size);
    const upload = await tandem(['sync', dirA, '--once', '--quiet'], {
      home: homeA,
      timeoutMs: 240_000,
    });
    expect(upload.code, upload.stderr).toBe(0);

    const agentB = background(['sync', dirB, '--workspace', 'big', '--once'], { home: homeB });
    // Wait until the download is under way: a temporary file inside .tandem/tmp has bytes.
    await waitFor(
      async () => {
        const tmp = join(dirB, '.tandem', 'tmp');
        for (const name of await readdir(tmp)) {
          const { size: got } = await stat(join(tmp, name));
          if (got > 0 && got < size) return true;
        }
        return false;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 2,
        what: () => `B to start downloading (${agentB.output()})`,
      },
    );
    await agentB.kill9();
    await expect(stat(join(dirB, 'video.bin'))).rejects.toMatchObject({ code: 'ENOENT' });

    const again = await tandem(['sync', dirB, '--once', '--quiet'], {
      home: homeB,
      timeoutMs: 240_000,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(await sha256File(join(dirB, 'video.bin'))).toBe(
      await sha256File(join(dirA, 'video.bin')),
    );
    expect(await readdir(join(dirB, '.tandem', 'tmp'))).toEqual([]); // leftovers cleared
  }, 600_000);

  it('kill -9 of the hub right after it acknowledged a commit loses nothing', async () => {
    const port = await freePort();
    const hub = await startHub({ port });
    const { homeA, homeB } = await twoDevices(hub, 'dave', 'ledger');
    const config = JSON.parse(
      await (await import('node:fs/promises')).readFile(join(homeA, 'config.json'), 'utf8'),
    );
    const client = new HubClient(new HttpTransport(hub.url), config.token);
    const workspace = (await client.listWorkspaces())[0]!;

    // Upload and commit straight through the API, then crash the hub the moment it answers.
    const bytes = randomBytes(3 * 1024 * 1024);
    const chunks = splitBuffer(bytes).map((c) => ({ id: chunkIdOf(c), bytes: c }));
    await client.uploadChunks(workspace.id, chunks);
    const manifest = manifestOf(chunks.map((c) => ({ id: c.id, size: c.bytes.length })));
    const response = await client.commit(workspace.id, {
      ops: [
        {
          op: 'put',
          path: 'ledger.bin',
          base: 0,
          entry: {
            kind: 'file',
            contentId: manifest.contentId,
            size: manifest.size,
            executable: false,
            mtime: 1_700_000_000_000,
          },
        },
      ],
      manifests: [
        { contentId: manifest.contentId, size: manifest.size, chunks: [...manifest.chunks] },
      ],
    });
    await hub.kill9();
    expect(response.results[0]).toMatchObject({ ok: true });

    await startHub({ port, dataDir: hub.dataDir });
    const dirB = join(await tempDir(), 'B');
    const sync = await tandem(['sync', dirB, '--workspace', 'ledger', '--once'], { home: homeB });
    expect(sync.code, sync.stderr).toBe(0);
    const received = await (await import('node:fs/promises')).readFile(join(dirB, 'ledger.bin'));
    expect(received.equals(bytes)).toBe(true);
  }, 120_000);
});

import { describe, expect, it } from 'vitest';
import { hashAndKeep, hashFile } from '../../src/agent/hasher.js';
import { splitBuffer } from '../../src/core/chunking.js';
import { chunkIdOf, manifestOf } from '../../src/core/hashing.js';
import { MemoryFileSystem } from '../../src/fs/memory-file-system.js';
import { pseudoRandomBytes } from '../helpers/bytes.js';

const pseudoRandom = (length: number, seed: number) => pseudoRandomBytes(length, seed);

describe('hashFile', () => {
  const expected = (data: Buffer) =>
    manifestOf(splitBuffer(data).map((c) => ({ id: chunkIdOf(c), size: c.length })));

  for (const size of [0, 1, 1000, 64 * 1024, 3 * 1024 * 1024 + 17, 20 * 1024 * 1024 + 3]) {
    it(`streams a ${size}-byte file to the same manifest as cutting it whole`, async () => {
      const fs = new MemoryFileSystem();
      const data = pseudoRandom(size, size + 1);
      await fs.writeFile('/f', data);
      expect(await hashFile(fs, '/f', undefined, size)).toEqual(expected(data));
    });
  }

  it('cuts a large file the same whatever its size hint says (it changed after the stat)', async () => {
    const MiB = 1024 * 1024;
    for (const [size, hint] of [
      [16 * MiB, 16 * MiB], // a whole number of reads
      [9 * MiB, 24 * MiB], // shrank
      [30 * MiB + 7, 9 * MiB], // grew
      [0, 9 * MiB], // emptied
    ] as const) {
      const fs = new MemoryFileSystem();
      const data = pseudoRandom(size, 11);
      await fs.writeFile('/f', data);
      expect(await hashFile(fs, '/f', undefined, hint)).toEqual(expected(data));
    }
  });

  it('copes with a file larger than its size hint (it grew after the stat)', async () => {
    const fs = new MemoryFileSystem();
    const data = pseudoRandom(5 * 1024 * 1024, 9);
    await fs.writeFile('/f', data);
    expect(await hashFile(fs, '/f', undefined, 100)).toEqual(expected(data));
  });

  describe('handing chunks out', () => {
    const size = 40 * 1024 * 1024 + 5; // five reads
    const hashOut = async (release: 'never' | 'at once') => {
      const fs = new MemoryFileSystem();
      const data = pseudoRandom(size, 3);
      await fs.writeFile('/f', data);
      const out: Buffer[] = [];
      const { manifest } = await hashAndKeep(fs, '/f', undefined, size, async (_, bytes, done) => {
        out.push(bytes);
        if (release === 'at once') done();
      });
      return { manifest, out, expected: expected(data) };
    };

    it('never reads into a buffer whose chunks are still out', async () => {
      const { manifest, out, expected: want } = await hashOut('never');
      expect(manifest).toEqual(want);
      // Every chunk still holds the bytes it was cut with.
      expect(out.map((bytes) => chunkIdOf(bytes))).toEqual(want.chunks.map((c) => c.id));
      expect(new Set(out.map((bytes) => bytes.buffer)).size).toBeGreaterThanOrEqual(5);
    });

    it('stops with the error of a receiver that refuses a chunk', async () => {
      const fs = new MemoryFileSystem();
      await fs.writeFile('/f', pseudoRandom(size, 5));
      let received = 0;
      const refused = hashAndKeep(fs, '/f', undefined, size, async () => {
        if (++received === 100) throw new Error('no room');
      });
      await expect(refused).rejects.toThrow('no room');
      expect(received).toBe(100);
    });

    it('reads into a buffer again once its chunks are released', async () => {
      const { manifest, out, expected: want } = await hashOut('at once');
      expect(manifest).toEqual(want);
      // Two buffers take turns: the one read into, and the one its unfinished tail came from.
      expect(new Set(out.map((bytes) => bytes.buffer)).size).toBeLessThanOrEqual(2);
    });
  });
});

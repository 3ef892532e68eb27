import { describe, expect, it } from 'vitest';
import { hashFile } from '../../src/agent/hasher.js';
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

  it('copes with a file larger than its size hint (it grew after the stat)', async () => {
    const fs = new MemoryFileSystem();
    const data = pseudoRandom(5 * 1024 * 1024, 9);
    await fs.writeFile('/f', data);
    expect(await hashFile(fs, '/f', undefined, 100)).toEqual(expected(data));
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { HashWorker, sharedBuffer } from '../../src/core/hash-worker.js';
import { chunkIdOf } from '../../src/core/hashing.js';
import { pseudoRandomBytes } from '../helpers/bytes.js';

describe('HashWorker', () => {
  const workers: HashWorker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });
  const make = () => {
    const worker = new HashWorker();
    workers.push(worker);
    return worker;
  };
  // Chunks of a stretch of a shared buffer, and their ids computed here.
  const stretch = (seed: number) => {
    const buffer = sharedBuffer(1024 * 1024);
    pseudoRandomBytes(buffer.length, seed).copy(buffer);
    const offset = 1000;
    const lengths = [70_000, 1, 300_000, 0, 5_000];
    const expected: string[] = [];
    for (let at = offset, k = 0; k < lengths.length; at += lengths[k]!, k++)
      expected.push(chunkIdOf(buffer.subarray(at, at + lengths[k]!)));
    return { buffer, offset, lengths, expected };
  };

  it('computes the ids of chunks in shared memory on its thread', async () => {
    const worker = make();
    const jobs = [1, 2, 3].map((seed) => stretch(seed));
    const ids = await Promise.all(jobs.map((j) => worker.ids(j.buffer, j.offset, j.lengths)));
    expect(worker.threaded).toBe(true);
    expect(ids).toEqual(jobs.map((j) => j.expected));
  });

  it('computes them here when the bytes are not shared, or the worker is gone', async () => {
    const worker = make();
    const { buffer, offset, lengths, expected } = stretch(4);
    const unshared = Buffer.from(buffer);
    expect(await worker.ids(unshared, offset, lengths)).toEqual(expected);
    // Jobs under way when the worker stops, and jobs after, still get their ids.
    const waiting = worker.ids(buffer, offset, lengths);
    await worker.close();
    expect(await waiting).toEqual(expected);
    expect(await worker.ids(buffer, offset, lengths)).toEqual(expected);
    expect(worker.threaded).toBe(false);
  });
});

/**
 * Chunk ids (SHA-256) computed on a worker thread, so that hashing a large file's chunks
 * overlaps cutting the next part of it on the main thread. Per GiB here, cutting takes about
 * 0.3-0.45 s and hashing 0.5-0.8 s: one after the other on one core, while the second core
 * sat idle when nothing else was syncing (a large file edited in place is re-read whole).
 *
 * The bytes stay where they are: the buffers are shared memory (`sharedBuffer`), and a job
 * names a stretch of one by offset and lengths. If the worker cannot run or fails, the ids
 * are computed on the calling thread instead: the same ids, only slower.
 */
import { Worker } from 'node:worker_threads';
import { chunkIdOf } from './hashing.js';
import type { ChunkId } from './ids.js';

/** The worker's code (plain CommonJS: it runs the same from sources and from the build). */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ job, buffer, offset, lengths }) => {
  const bytes = Buffer.from(buffer);
  const ids = [];
  for (const length of lengths) {
    ids.push(createHash('sha256').update(bytes.subarray(offset, offset + length)).digest('hex'));
    offset += length;
  }
  parentPort.postMessage({ job, ids });
});
`;

interface Waiting {
  readonly resolve: (ids: ChunkId[]) => void;
  readonly fallback: () => ChunkId[];
}

/** A buffer over shared memory, which a `HashWorker` can read without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

export class HashWorker {
  private worker: Worker | undefined;
  private failed = false;
  private jobs = 0;
  private readonly waiting = new Map<number, Waiting>();

  /** Whether jobs go to the worker thread (false before the first job, or once it failed). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /**
   * The ids of the chunks cut one after another from `offset` of `buffer` (over shared
   * memory), with the given `lengths`. The bytes must not change until the ids are back.
   */
  ids(buffer: Buffer, offset: number, lengths: readonly number[]): Promise<ChunkId[]> {
    const fallback = () => {
      const ids: ChunkId[] = [];
      for (let at = offset, k = 0; k < lengths.length; at += lengths[k]!, k++)
        ids.push(chunkIdOf(buffer.subarray(at, at + lengths[k]!)));
      return ids;
    };
    const worker = this.start();
    if (!worker || !(buffer.buffer instanceof SharedArrayBuffer) || lengths.length === 0)
      return Promise.resolve(fallback());
    const job = this.jobs++;
    if (this.waiting.size === 0) worker.ref(); // (an awaited job keeps the process running)
    return new Promise((resolve) => {
      this.waiting.set(job, { resolve, fallback });
      worker.postMessage({
        job,
        buffer: buffer.buffer,
        offset: buffer.byteOffset + offset,
        lengths,
      });
    });
  }

  /** Stops the worker; jobs still waiting get their ids from the calling thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failed = true;
    this.settleAll();
    await worker?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    try {
      const worker = new Worker(SOURCE, { eval: true });
      worker.on('message', ({ job, ids }: { job: number; ids: ChunkId[] }) => {
        const waiting = this.waiting.get(job);
        this.waiting.delete(job);
        if (this.waiting.size === 0) worker.unref();
        waiting?.resolve(ids);
      });
      const fail = () => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.failed = true;
        this.settleAll();
      };
      worker.on('error', fail);
      worker.on('exit', fail);
      worker.unref();
      this.worker = worker;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }

  /** Answers every waiting job from the calling thread. */
  private settleAll(): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const { resolve, fallback } of waiting) resolve(fallback());
  }
}

/**
 * A large file is fetched while it is being uploaded, from the uploader's previews, and the
 * download after the commit uses what was fetched only where it matches what was committed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadPreview } from '../../src/protocol/api.js';
import type { HubEvent } from '../../src/server/event-bus.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

const MiB = 1024 * 1024;

describe('fetching a file while it is uploaded', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clock = 1_000_000;
  const now = () => clock;

  beforeAll(async () => {
    hub = await startSimHub();
    const clientA = await simAccount(hub, 'pre', 'a', true);
    const clientB = await simAccount(hub, 'pre', 'b', false);
    const ws = (await clientA.createWorkspace('pre')).id;
    a = await simDevice(hub, clientA, ws, 'a', now);
    b = await simDevice(hub, clientB, ws, 'b', now);
  });
  afterAll(async () => hub.close());

  /** Writes `bytes` at big.bin on A and runs A's round; returns the previews it sent. */
  async function upload(bytes: Buffer): Promise<UploadPreview[]> {
    await a.fs.writeFile(`${a.root}/big.bin`, bytes);
    clock += 1000;
    const previews: UploadPreview[] = [];
    const unsubscribe = hub.app.hub.events.subscribe((event: HubEvent) => {
      if (event.kind === 'preview') previews.push(event.preview);
    });
    try {
      expect((await a.engine.round()).execution.applied).toBe(1);
    } finally {
      unsubscribe();
    }
    return previews;
  }

  /** Bytes the hub sent while `run` ran. */
  async function sentDuring(run: () => Promise<unknown>): Promise<number> {
    const before = hub.app.hub.stats.chunkBytesOut;
    await run();
    return hub.app.hub.stats.chunkBytesOut - before;
  }

  it('previews every chunk in order, so the download after the commit fetches nothing more', async () => {
    const bytes = randomBytes(24 * MiB);
    const previews = await upload(bytes);
    expect(previews.length).toBeGreaterThan(1);
    let at = 0;
    for (const preview of previews) {
      expect(preview).toMatchObject({ path: 'big.bin', size: bytes.length, at });
      at += preview.chunks.reduce((sum, c) => sum + c.size, 0);
    }
    expect(at).toBe(bytes.length);
    expect(previews.flatMap((p) => p.chunks)).toEqual(a.store.hashes.get('big.bin')!.chunks);

    const ahead = await sentDuring(() => Promise.all(previews.map((p) => b.engine.preview(p))));
    expect(ahead).toBe(bytes.length);
    const during = await sentDuring(() => b.engine.round());
    expect(during).toBe(0);
    expect((await b.fs.readFile(`${b.root}/big.bin`)).equals(bytes)).toBe(true);
  });

  it('keeps only what matches the commit when the file changed after its previews', async () => {
    const first = randomBytes(24 * MiB);
    const early = await upload(first);
    // Changed before B heard of the commit: one byte in the middle chunk (near its start, so
    // the chunk keeps its size but not its id), and 4 MiB more at the end.
    const chunks = a.store.hashes.get('big.bin')!.chunks;
    const middle = Math.floor(chunks.length / 2);
    const kept = chunks.slice(0, middle).reduce((sum, c) => sum + c.size, 0);
    const second = Buffer.concat([first, randomBytes(4 * MiB)]);
    second[kept + 100] = 255 - second[kept + 100]!;
    await upload(second);
    expect(a.store.hashes.get('big.bin')!.chunks[middle]!.size).toBe(chunks[middle]!.size);
    await Promise.all(early.map((p) => b.engine.preview(p)));
    const during = await sentDuring(() => b.engine.round());
    expect(during).toBe(second.length - kept);
    expect((await b.fs.readFile(`${b.root}/big.bin`)).equals(second)).toBe(true);
  });

  it('keeps what came before a preview that went missing, and nothing after it', async () => {
    const bytes = randomBytes(32 * MiB);
    const previews = await upload(bytes);
    expect(previews.length).toBeGreaterThan(2);
    const [first, , ...rest] = previews;
    const firstBytes = first!.chunks.reduce((sum, c) => sum + c.size, 0);
    // Offered at once, as a socket delivers them: fetches overlap, the gap stops the rest.
    const ahead = await sentDuring(() =>
      Promise.all([first!, ...rest].map((p) => b.engine.preview(p))),
    );
    expect(ahead).toBe(firstBytes);
    const during = await sentDuring(() => b.engine.round());
    expect(during).toBe(bytes.length - firstBytes);
    expect((await b.fs.readFile(`${b.root}/big.bin`)).equals(bytes)).toBe(true);
  });

  it('does not use a staged file that reaches past the committed end', async () => {
    const first = randomBytes(24 * MiB);
    const early = await upload(first);
    const second = first.subarray(0, 10 * MiB);
    await upload(second);
    await Promise.all(early.map((p) => b.engine.preview(p)));
    await b.engine.round();
    expect((await b.fs.readFile(`${b.root}/big.bin`)).equals(second)).toBe(true);
    // Nothing staged is left behind in the temporary folder.
    expect(await b.fs.readdir(`${b.root}/.tandem/tmp`)).toEqual([]);
  });

  it('stages nothing the disk has no room for, and lets go of a file whose write it refused', async () => {
    b.fs.capacity = Number.MAX_SAFE_INTEGER;
    const used = Number.MAX_SAFE_INTEGER - (await b.fs.freeSpace(b.root))!;
    b.fs.capacity = used + 10 * MiB; // (the old big.bin goes only when the new one is in place)
    const tmp = `${b.root}/.tandem/tmp`;
    const bytes = randomBytes(24 * MiB);
    const previews = await upload(bytes);
    // Told the disk has no room: nothing is fetched or staged.
    expect(await sentDuring(() => Promise.all(previews.map((p) => b.engine.preview(p))))).toBe(0);
    expect(await b.fs.readdir(tmp)).toEqual([]);

    // Told wrongly that it has: the writes meet the full disk, and the staged file goes at once.
    const freeSpace = b.fs.freeSpace.bind(b.fs);
    b.fs.freeSpace = async () => undefined;
    const again = await upload(randomBytes(24 * MiB));
    await Promise.all(again.map((p) => b.engine.preview(p)));
    expect(await b.fs.readdir(tmp)).toEqual([]);
    b.fs.freeSpace = freeSpace;
    b.fs.capacity = undefined;
  });
});

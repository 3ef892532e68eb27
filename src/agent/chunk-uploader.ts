/**
 * Sending chunks to the hub: in batches of about 8 MiB, a few requests at once, so the next
 * batch is read while the hub verifies and stores the previous ones. The executor uploads
 * through it, and so does the scan, which sends a large file's missing chunks while hashing
 * it (the file is read once, and hashing overlaps sending).
 */
import { randomBytes } from 'node:crypto';
import type { ChunkRef } from '../core/hashing.js';
import type { ChunkId } from '../core/ids.js';
import type { UploadPreview } from '../protocol/api.js';
import type { HubClient } from './hub-client.js';

export const UPLOAD_BATCH_BYTES = 8 * 1024 * 1024;
const UPLOADS_IN_FLIGHT = 2;

/** A chunk the hasher handed out, until it goes to the uploader (`handed`) or is let go. */
interface PendingChunk {
  readonly id: ChunkId;
  readonly bytes: Buffer;
  readonly release: () => void;
  handed: boolean;
}

export class ChunkUploader {
  /** Bytes the hub has acknowledged. */
  uploaded = 0;
  private batch: { id: ChunkId; bytes: Uint8Array }[] = [];
  private batchBytes = 0;
  /** Called once the request that carries the chunks queued so far has ended. */
  private releases: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    private readonly client: HubClient,
    private readonly workspaceId: string,
  ) {}

  /**
   * The ids of `ids` the hub does not store. `growth`: the bytes their files add to the
   * workspace, which the hub checks against its owner's quota.
   */
  missing(ids: readonly ChunkId[], growth = 0): Promise<Set<ChunkId>> {
    return this.client.missing(this.workspaceId, ids, growth);
  }

  /** Tells the workspace's other devices which chunks of a file are on the hub already. */
  preview(preview: UploadPreview): Promise<void> {
    return this.client.previewUpload(this.workspaceId, preview);
  }

  /**
   * Queues a chunk; waits while too many requests are in flight. Throws an earlier failure.
   * `release` is called once the bytes are no longer needed (their request ended, or failed).
   */
  async add(id: ChunkId, bytes: Uint8Array, release?: () => void): Promise<void> {
    this.batch.push({ id, bytes });
    this.batchBytes += bytes.length;
    if (release) this.releases.push(release);
    if (this.failure || this.batchBytes >= UPLOAD_BATCH_BYTES) await this.flush();
  }

  /** Sends everything queued and waits for every request to be acknowledged. */
  async finish(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /**
   * Sends what is queued, without waiting; the promise resolves once every chunk added so far
   * is acknowledged, and rejects if any request failed.
   */
  acknowledged(): Promise<void> {
    this.send();
    return Promise.all(this.inFlight).then(() => {
      if (this.failure) throw this.failure;
    });
  }

  private async flush(): Promise<void> {
    this.send();
    if (this.inFlight.size >= UPLOADS_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /** Sends what is queued; after a failure, lets it go instead (nothing more is sent). */
  private send(): void {
    if (this.failure) this.dropBatch();
    if (this.batch.length === 0) return;
    const sending = this.batch;
    const bytes = this.batchBytes;
    const releases = this.releases;
    this.batch = [];
    this.batchBytes = 0;
    this.releases = [];
    const request = this.client
      .uploadChunks(this.workspaceId, sending)
      .then(() => {
        this.uploaded += bytes;
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        for (const release of releases) release();
        this.inFlight.delete(request);
      });
    this.inFlight.add(request);
  }

  private dropBatch(): void {
    for (const release of this.releases) release();
    this.batch = [];
    this.batchBytes = 0;
    this.releases = [];
  }
}

/**
 * Receives a file's chunks from the hasher as they are cut and sends those the hub lacks,
 * asking it once per batch. Best effort: after a failure it stops quietly, and the upload
 * before the commit sends whatever is still missing (the hub verifies every chunk, so bytes
 * of a file that changed while being read are only wasted, never wrong).
 *
 * Once a batch is on the hub, the batch is previewed (every chunk of that stretch of the file,
 * in order), so other devices can fetch the file while it is still being read here. A preview
 * promises nothing: the file may change before it is committed, and only the commit counts.
 */
export class EarlyUpload {
  private pending: PendingChunk[] = [];
  private pendingBytes = 0;
  /** Batches handed on and not sent yet; hashing waits when there are too many. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly sent = new Set<ChunkId>();
  /** This read of the file, for the previews; and where the next batch starts in it. */
  private readonly upload = randomBytes(8).toString('hex');
  private at = 0;
  private previews: Promise<void> = Promise.resolve();
  private previewing = true;

  constructor(
    private readonly uploader: ChunkUploader,
    private readonly path: string,
    private readonly size: number,
    /** True once the file has changed since hashing began. */
    private readonly changed: () => Promise<boolean> = async () => false,
    /** Bytes the file adds to the workspace (its size less the hub's version's), for quotas. */
    private readonly growth = 0,
  ) {}

  /** For the hasher: each chunk's bytes are released once sent, or once known not needed. */
  onChunk = async (chunk: ChunkRef, bytes: Buffer, release: () => void): Promise<void> => {
    if (this.stopped) return release();
    this.pending.push({ id: chunk.id, bytes, release, handed: false });
    this.pendingBytes += bytes.length;
    if (this.pendingBytes < UPLOAD_BATCH_BYTES) return;
    this.handOn();
    // Hashing goes on while the hub is asked about this batch, but not far ahead of it.
    if (this.queued > 0) await this.tail;
  };

  /** Sends what is left of the file (call once it is hashed). */
  async end(): Promise<void> {
    this.handOn();
    await this.tail;
    await this.previews;
  }

  private handOn(): void {
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (batch.length === 0) return;
    const at = this.at;
    for (const { bytes } of batch) this.at += bytes.length;
    this.queued++;
    this.tail = this.tail.then(async () => {
      try {
        if (!this.stopped) await this.send(batch, at);
      } catch {
        this.stopped = true;
      } finally {
        this.queued--;
        // (What went to the uploader is released by it, once its request has ended.)
        for (const chunk of batch) if (!chunk.handed) chunk.release();
      }
    });
  }

  private async send(batch: readonly PendingChunk[], at: number): Promise<void> {
    if (await this.changed()) {
      this.stopped = true; // being written: the upload after the stability check sends it
      return;
    }
    const growth = at === 0 ? this.growth : 0;
    const missing = await this.uploader.missing(
      batch.map((p) => p.id),
      growth,
    );
    for (const chunk of batch) {
      if (!missing.delete(chunk.id) || this.sent.has(chunk.id)) continue;
      this.sent.add(chunk.id); // (the hub may not have it yet when a later batch asks)
      chunk.handed = true;
      await this.uploader.add(chunk.id, chunk.bytes, chunk.release);
    }
    // Previewed once the hub has every chunk of the batch; hashing does not wait for that.
    const stored = this.uploader.acknowledged();
    stored.catch(() => undefined);
    const chunks = batch.map(({ id, bytes }) => ({ id, size: bytes.length }));
    const preview = { upload: this.upload, path: this.path, size: this.size, at, chunks };
    this.previews = this.previews.then(async () => {
      if (!this.previewing) return;
      try {
        await stored;
        await this.uploader.preview(preview);
      } catch {
        this.previewing = false; // a preview missed makes the later ones useless
      }
    });
  }
}

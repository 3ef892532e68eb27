/**
 * A little space kept aside on the disk of a synced folder, in `.tandem/reserve`, for the
 * moment the disk fills up to the last byte (another program, a copy into the folder). The
 * agent never fills it itself (downloads leave KEEP_FREE_BYTES free), but then its state
 * database cannot be written either, and a problem it cannot record is one `tandem status`
 * cannot show. The reserve is let go at that moment, so that the problem (and the rounds
 * that follow, which find every download refused for space and record that) can be
 * written; it is taken again once the disk has room for it.
 */
import type { FileSystem } from '../fs/file-system.js';

export const RESERVE_BYTES = 1024 * 1024;

export class DiskReserve {
  private held: boolean | undefined;

  /** `path`: the reserve file; `folder`: where free space is asked for. */
  constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
    private readonly folder: string,
    private readonly bytes = RESERVE_BYTES,
  ) {}

  /** True when the reserve was let go and is not taken again yet. */
  get released(): boolean {
    return this.held === false;
  }

  /**
   * Makes sure the reserve is there: written (not sparse) when missing and the disk says it
   * has room for it and as much again. Never throws: without a reserve, syncing goes on.
   */
  async keep(): Promise<void> {
    try {
      const stat = await this.fs.lstat(this.path);
      if (stat?.kind === 'file' && stat.size === this.bytes) {
        this.held = true;
        return;
      }
      // (Where the free space cannot be known, neither can a full disk be told: no reserve.)
      const free = await this.fs.freeSpace(this.folder);
      if (free === undefined || free < 2 * this.bytes) return;
      if (stat) await this.fs.unlink(this.path);
      const handle = await this.fs.createWrite(this.path, 0o600);
      try {
        await handle.writeAt(Buffer.alloc(this.bytes), 0);
      } finally {
        await handle.close();
      }
      this.held = true;
    } catch {
      // (Not tried again before the next start: a disk that refuses it now may always.)
      await this.fs.unlink(this.path).catch(() => undefined);
      this.held = undefined;
    }
  }

  /** Lets the reserve go (the disk is full). Returns whether there was one to free. */
  async release(): Promise<boolean> {
    const had = this.held === true;
    this.held = false;
    try {
      await this.fs.unlink(this.path);
      return true;
    } catch {
      return had;
    }
  }
}

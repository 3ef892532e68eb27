/**
 * Regression (issue 19): with the receiving disk full, a download failed with SQLite's
 * "database or disk is full" in the log, left its partial file in `.tandem/tmp`, held every
 * other download behind it, and `tandem status` showed no problem. A download the disk has
 * no room for is now a problem of its path, in words, with nothing left behind; the others
 * arrive; and it is tried again soon, arriving once there is room.
 */
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RESERVE_BYTES } from '../../src/agent/disk-reserve.js';
import {
  describeLocalError,
  DISK_RETRY_MS,
  formatBytes,
  KEEP_FREE_BYTES,
} from '../../src/agent/local-errors.js';
import { describeError } from '../../src/cli/output.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

describe('a download the receiving disk has no room for', () => {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const later = (ms: number) => (clock += ms);
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  const big = randomBytes(2_500_000);

  beforeEach(async () => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'dana', 'a', true);
    const clientB = await simAccount(hub, 'dana', 'b', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'a', now);
    b = await simDevice(hub, clientB, ws.id, 'b', now);
  });
  afterEach(async () => {
    await hub.close();
  });

  it('is a problem of its path that names the disk; the others arrive; it arrives once there is room', async () => {
    b.fs.capacity = 3_000_000; // (less the 1 MiB kept free: not enough for 2.5 MB)
    await a.fs.writeFile('/a/big.bin', big);
    await a.fs.writeFile('/a/small.txt', 'twelve bytes');
    later(10_000);
    await a.engine.syncUntilIdle();

    const first = await b.engine.round();
    expect((await b.fs.readFile('/b/small.txt')).toString()).toBe('twelve bytes');
    expect(await b.fs.lstat('/b/big.bin')).toBeUndefined();
    expect(first.reported).toEqual([
      {
        path: 'big.bin',
        message:
          'the disk holding /b is full: 3.0 MB free, 2.5 MB needed (and 1.0 MB kept free for .tandem); free some space: it is tried again every few seconds',
      },
    ]);
    expect(b.store.problems.get('big.bin')?.kind).toBe('apply');
    expect(await b.fs.readdir('/b/.tandem/tmp')).toEqual([]);

    // Not before its retry, which comes within DISK_RETRY_MS however often it failed.
    for (let i = 0; i < 6; i++) {
      later(DISK_RETRY_MS);
      await b.engine.round();
    }
    expect(await b.fs.lstat('/b/big.bin')).toBeUndefined();
    b.fs.capacity = 10_000_000; // space freed
    await b.engine.round();
    expect(await b.fs.lstat('/b/big.bin')).toBeUndefined(); // (its retry is not due yet)
    later(DISK_RETRY_MS);
    const last = await b.engine.round();
    expect(last.execution.problems).toEqual([]);
    expect(Buffer.compare(await b.fs.readFile('/b/big.bin'), big)).toBe(0);
    expect(b.store.problems.size).toBe(0);
  });

  it('removes the partial file of a download that runs out of space midway', async () => {
    // The free space cannot be known beforehand here, so the write itself meets the full disk.
    b.fs.capacity = 1_000_000;
    const freeSpace = b.fs.freeSpace.bind(b.fs);
    let asked = 0;
    b.fs.freeSpace = async (path) => (asked++ === 0 ? undefined : freeSpace(path));
    await a.fs.writeFile('/a/big.bin', big);
    later(10_000);
    await a.engine.syncUntilIdle();

    const round = await b.engine.round();
    expect(round.execution.problems).toEqual([
      {
        path: 'big.bin',
        message: expect.stringMatching(
          /^the disk holding \/b is full: 1\.0 MB free, 2\.5 MB needed; free some space/,
        ),
        retryWithinMs: DISK_RETRY_MS,
      },
    ]);
    expect(await b.fs.readdir('/b/.tandem/tmp')).toEqual([]);
    expect(await b.fs.lstat('/b/big.bin')).toBeUndefined();
  });

  it('is a problem in words when the disk refuses the write (permission, read-only), retried soon', async () => {
    await a.fs.writeFile('/a/x.txt', 'x');
    await a.fs.writeFile('/a/y.txt', 'y');
    later(10_000);
    await a.engine.syncUntilIdle();
    const refusal = (code: string, description: string, syscall: string, path: string) =>
      Object.assign(new Error(`${code}: ${description}, ${syscall} '${path}'`), {
        code,
        syscall,
        path,
      });
    const rename = b.fs.rename.bind(b.fs);
    b.fs.rename = async (from, to) => {
      if (to === '/b/x.txt') throw refusal('EACCES', 'permission denied', 'rename', to);
      if (to === '/b/y.txt') throw refusal('EROFS', 'read-only file system', 'rename', to);
      return rename(from, to);
    };
    const round = await b.engine.round();
    expect(round.execution.problems).toEqual([
      {
        path: 'x.txt',
        message:
          'cannot write in /b: permission denied (rename x.txt); check that this user may write there',
        retryWithinMs: DISK_RETRY_MS,
      },
      {
        path: 'y.txt',
        message:
          'the disk holding /b is read-only: nothing can be written there until it is mounted for writing',
        retryWithinMs: DISK_RETRY_MS,
      },
    ]);
    expect(await b.fs.readdir('/b/.tandem/tmp')).toEqual([]);
    b.fs.rename = rename;
    later(DISK_RETRY_MS);
    expect((await b.engine.round()).execution.problems).toEqual([]);
    expect((await b.fs.readFile('/b/x.txt')).toString()).toBe('x');
  });

  it('stops a round whose state database cannot be written, says why, and lets its reserve go', async () => {
    b.fs.capacity = 4_000_000;
    await b.engine.prepare(); // (now that the disk says how much is free: with a reserve)
    expect((await b.fs.lstat('/b/.tandem/reserve'))?.size).toBe(RESERVE_BYTES);
    await a.fs.writeFile('/a/small.txt', 'twelve bytes');
    later(10_000);
    await a.engine.syncUntilIdle();
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const setBase = b.store.setBase.bind(b.store);
    b.store.setBase = () => {
      throw full;
    };
    // Not a problem of the path (which the database could not record either): the round's.
    await expect(b.engine.round()).rejects.toBe(full);
    const message = await b.engine.failed(full);
    expect(message).toBe(
      'the disk holding /b is full: 3.0 MB free, so .tandem/state.db cannot record what is synced; free some space, and syncing goes on',
    );
    // The reserve made room to record it, for `tandem status`.
    expect(await b.fs.lstat('/b/.tandem/reserve')).toBeUndefined();
    expect(b.store.problems.get('.tandem')).toMatchObject({ kind: 'apply', message });

    b.store.setBase = setBase;
    await b.engine.round();
    expect(b.store.base.get('small.txt')?.entry.kind).toBe('file');
    expect(b.store.problems.size).toBe(0);
    expect((await b.fs.lstat('/b/.tandem/reserve'))?.size).toBe(RESERVE_BYTES);
  });
});

describe('local errors in words', () => {
  it('names the cause once, with the operation and the file relative to the folder', () => {
    let error: unknown;
    try {
      renameSync('/nonexistent-root/docs/a.txt', '/nonexistent-root/docs/b.txt');
    } catch (caught) {
      error = caught;
    }
    expect(describeLocalError(error, '/nonexistent-root')).toBe(
      'no such file or folder (rename docs/b.txt)',
    );
    const temp = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
      path: '/r/.tandem/tmp/ab12-3',
    });
    expect(describeLocalError(temp, '/r')).toBe(
      'no space left on the disk (write a temporary file in .tandem/tmp)',
    );
    const unknown = Object.assign(new Error('EWHAT: something odd, frob'), { code: 'EWHAT' });
    expect(describeLocalError(unknown)).toBe('something odd (frob)');
    expect(describeLocalError(new Error('plain'))).toBe('plain');
  });

  it('tells the person at the terminal the cause once, and what to do', () => {
    const denied = Object.assign(new Error("EACCES: permission denied, open '/srv/x'"), {
      code: 'EACCES',
      syscall: 'open',
      path: '/srv/x',
    });
    expect(describeError(denied)).toBe(
      'permission denied (open /srv/x): check that this user may write there',
    );
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(describeError(full)).toBe('no space left on the disk: free some space and try again');
  });

  it('writes sizes as people read them', () => {
    expect(formatBytes(0)).toBe('0 bytes');
    expect(formatBytes(1)).toBe('1 byte');
    expect(formatBytes(999)).toBe('999 bytes');
    expect(formatBytes(3_400)).toBe('3.4 kB');
    expect(formatBytes(48_000_000)).toBe('48 MB');
    expect(formatBytes(1_234_000_000)).toBe('1.2 GB');
    expect(formatBytes(KEEP_FREE_BYTES)).toBe('1.0 MB');
  });
});

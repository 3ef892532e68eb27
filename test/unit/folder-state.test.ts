/**
 * A damaged state database is detected and rebuilt (issue 19): what `openFolderState` calls
 * damaged, the copy of the link in `.tandem/link.json`, and how the damaged files are moved
 * aside before a fresh database is made.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isLinked,
  moveDamagedState,
  openFolderState,
  readLinkFile,
  rebuildFolderState,
  StateDamaged,
  writeLinkFile,
} from '../../src/agent/folder.js';
import { isDamageError, type LinkInfo } from '../../src/agent/state-store.js';
import type { ContentId } from '../../src/core/ids.js';

const link: LinkInfo = {
  hub: 'http://127.0.0.1:1',
  workspaceId: 'w1',
  workspaceName: 'docs',
  deviceId: 'd1',
};

describe('a folder state database', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const folder = async (): Promise<string> => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-folder-'));
    dirs.push(dir);
    await mkdir(join(dir, '.tandem'));
    return dir;
  };
  const db = (root: string) => join(root, '.tandem', 'state.db');

  /** Opening rejects with StateDamaged; returns it. */
  const damaged = async (root: string): Promise<StateDamaged> => {
    const error: unknown = await openFolderState(root, false).then(
      (store) => {
        store.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StateDamaged);
    return error as StateDamaged;
  };

  it('overwritten with garbage is damaged, and left as it is', async () => {
    const root = await folder();
    const garbage = randomBytes(16 * 1024);
    await writeFile(db(root), garbage);
    const error = await damaged(root);
    expect(error.missing).toBe(false);
    expect(error.reason).toMatch(/not a database/);
    expect(await readFile(db(root))).toEqual(garbage);
    expect(await readdir(join(root, '.tandem'))).toEqual(['state.db']);
  });

  it('damaged in the middle is found by the quick check, not only by a failing read', async () => {
    const root = await folder();
    const store = await openFolderState(root, true);
    store.setLink(link);
    store.batch(() => {
      for (let i = 0; i < 2000; i++)
        store.setBase(`file-${i}.txt`, {
          entry: {
            kind: 'file',
            contentId: 'a'.repeat(64) as ContentId,
            size: i,
            executable: false,
            mode: 0o644,
            mtime: 1000,
          },
          seq: i + 1,
          node: i + 1,
          ino: i + 1,
        });
    });
    store.close();
    const size = (await stat(db(root))).size;
    expect(size).toBeGreaterThan(20 * 4096);
    // Some pages past the header and the schema overwritten: the header still says SQLite.
    const handle = await open(db(root), 'r+');
    await handle.write(randomBytes(4 * 4096), 0, 4 * 4096, 10 * 4096);
    await handle.close();
    const error = await damaged(root);
    expect(error.missing).toBe(false);
  });

  it('missing, with link.json there, is missing (and the folder still counts as linked)', async () => {
    const root = await folder();
    expect(await isLinked(root)).toBe(false);
    await writeLinkFile(root, link);
    expect(await isLinked(root)).toBe(true);
    expect((await damaged(root)).missing).toBe(true);
  });

  it('keeps a copy of its link in link.json, mode 0600, written whole', async () => {
    const root = await folder();
    expect(await readLinkFile(root)).toBeUndefined();
    await writeLinkFile(root, link);
    expect(await readLinkFile(root)).toEqual(link);
    expect((await stat(join(root, '.tandem', 'link.json'))).mode & 0o777).toBe(0o600);
    await writeLinkFile(root, { ...link, workspaceName: 'renamed' });
    expect((await readLinkFile(root))?.workspaceName).toBe('renamed');
    expect((await readdir(join(root, '.tandem'))).sort()).toEqual(['link.json']);
    // A file that does not hold a link is no link.
    await writeFile(join(root, '.tandem', 'link.json'), '{"hub": 3}');
    expect(await readLinkFile(root)).toBeUndefined();
    await writeFile(join(root, '.tandem', 'link.json'), 'garbage');
    expect(await readLinkFile(root)).toBeUndefined();
  });

  it('is rebuilt: the damaged files moved aside together, a fresh one holding the link', async () => {
    const root = await folder();
    await writeFile(db(root), 'not a database');
    await writeFile(`${db(root)}-wal`, 'wal');
    await writeFile(`${db(root)}-shm`, 'shm');
    const { store, movedTo } = await rebuildFolderState(root, link);
    try {
      expect(movedTo).toMatch(/\/\.tandem\/state\.db\.damaged-\d{8}T\d{6}Z$/);
      expect(await readFile(movedTo!, 'utf8')).toBe('not a database');
      expect(await readFile(`${movedTo}-wal`, 'utf8')).toBe('wal');
      expect(await readFile(`${movedTo}-shm`, 'utf8')).toBe('shm');
      expect(store.link).toEqual(link);
      expect(store.cursor).toBe(0);
      expect(store.base.size).toBe(0);
      expect(await readLinkFile(root)).toEqual(link);
    } finally {
      store.close();
    }
    // Opened again, the new one is sound.
    const again = await openFolderState(root, false);
    expect(again.link).toEqual(link);
    again.close();
  });

  it('moved aside twice in one second keeps both', async () => {
    const root = await folder();
    const now = new Date('2026-12-04T01:02:03.456Z');
    await writeFile(db(root), 'first');
    const first = await moveDamagedState(root, now);
    await writeFile(db(root), 'second');
    const second = await moveDamagedState(root, now);
    expect(first).toMatch(/state\.db\.damaged-20261204T010203Z$/);
    expect(second).toMatch(/state\.db\.damaged-20261204T010203Z-1$/);
    expect(await readFile(first!, 'utf8')).toBe('first');
    expect(await readFile(second!, 'utf8')).toBe('second');
    expect(await moveDamagedState(root, now)).toBeUndefined();
  });

  it('tells damage from other SQLite errors', () => {
    expect(isDamageError({ code: 'SQLITE_CORRUPT' })).toBe(true);
    expect(isDamageError({ code: 'SQLITE_CORRUPT_INDEX' })).toBe(true);
    expect(isDamageError({ code: 'SQLITE_NOTADB' })).toBe(true);
    expect(isDamageError({ code: 'SQLITE_FULL' })).toBe(false);
    expect(isDamageError({ code: 'SQLITE_BUSY' })).toBe(false);
    expect(isDamageError(new Error('x'))).toBe(false);
    expect(isDamageError(undefined)).toBe(false);
  });
});

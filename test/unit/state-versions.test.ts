/**
 * The state database's versions: one written by the release before versions (the fixture,
 * made by that release's code: test/fixtures/make-state-v1.mjs) opens with the same trees
 * and gains the problems table; a database of a newer version is refused, untouched. The
 * fixture itself is never opened (SQLite would leave its -wal and -shm files beside it): a copy is.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  STATE_VERSION,
  StateStore,
  StateVersionError,
  UNKNOWN_TIME_NS,
} from '../../src/agent/state-store.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/state-v1.db');
const id = (c: string) => c.repeat(64);
// (Entries stored before modes read with the modes their release wrote: 0o644, folders 0o755.)
const file = (c: string, size: number, mtime: number) => ({
  kind: 'file',
  contentId: id(c),
  size,
  executable: false,
  mode: 0o644,
  mtime,
});

describe('state database versions', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const copyOfFixture = () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-state-'));
    dirs.push(dir);
    const db = join(dir, 'state.db');
    copyFileSync(FIXTURE, db);
    return db;
  };
  const version = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return db.pragma('user_version', { simple: true });
    } finally {
      db.close();
    }
  };

  it('is at version 4: the schema of version 1, the problems table, ns times of hashes, held deletions', () => {
    expect(STATE_VERSION).toBe(4);
  });

  it('opens a database of the release before versions with the same trees, and can record a problem', () => {
    const db = copyOfFixture();
    expect(version(db)).toBe(0); // (that release wrote no version)
    const store = new StateStore(db);
    expect(store.link).toEqual({
      hub: 'http://127.0.0.1:4567',
      workspaceId: 'ws-fixture',
      workspaceName: 'docs',
      deviceId: 'dev-fixture',
    });
    expect(store.cursor).toBe(4);
    expect(Object.fromEntries(store.remote)).toEqual({
      notes: { entry: { kind: 'dir', mode: 0o755 }, seq: 1, node: 1 },
      'notes/todo.txt': { entry: file('a', 8, 1700000000000), seq: 2, node: 2 },
      'notes/new.txt': { entry: file('b', 3, 1700000001000), seq: 4, node: 4 },
      link: { entry: { kind: 'symlink', target: 'notes' }, seq: 3, node: 3 },
    });
    expect(Object.fromEntries(store.base)).toEqual({
      notes: { entry: { kind: 'dir', mode: 0o755 }, seq: 1, node: 1, ino: 101 },
      'notes/todo.txt': { entry: file('a', 8, 1700000000000), seq: 2, node: 2, ino: 102 },
      link: { entry: { kind: 'symlink', target: 'notes' }, seq: 3, node: 3, ino: 103 },
    });
    // (Without a ctime, a hash of before is never trusted: the file is hashed again once.)
    expect(store.hashes.get('notes/todo.txt')).toEqual({
      ino: 102,
      size: 8,
      mtimeNs: UNKNOWN_TIME_NS,
      ctimeNs: UNKNOWN_TIME_NS,
      contentId: id('a'),
      chunks: [{ id: id('c'), size: 8 }],
      hashedAt: 1700000005000,
    });
    expect(store.decisions('notes/todo.txt', 10)).toHaveLength(1);
    expect(store.problems.size).toBe(0);
    store.setProblem('notes/todo.txt', { kind: 'apply', message: 'EIO', since: 5 });
    expect(store.heldDeletions().size).toBe(0);
    store.close();
    expect(version(db)).toBe(4);

    const reopened = new StateStore(db);
    expect(reopened.problems.get('notes/todo.txt')).toEqual({
      kind: 'apply',
      message: 'EIO',
      since: 5,
    });
    expect(reopened.remote.size).toBe(4);
    reopened.close();
  });

  it('runs each migration once: a migrated database opens as it is', () => {
    const db = copyOfFixture();
    const first = new StateStore(db);
    first.setProblem('x', { kind: 'apply', message: 'kept', since: 1 });
    first.close();
    // (Migration 2 creates its table without IF NOT EXISTS: run twice, it would throw.)
    const second = new StateStore(db);
    expect(second.problems.get('x')?.message).toBe('kept');
    second.close();
    const schema = (file: string) => {
      const d = new Database(file, { readonly: true });
      try {
        return d.prepare('SELECT name, sql FROM sqlite_master ORDER BY name').all();
      } finally {
        d.close();
      }
    };
    // problems, held_deletions, and the index of each
    expect(schema(db)).toHaveLength(schema(copyOfFixture()).length + 4);
    expect(version(db)).toBe(4);
  });

  it('creates a new database at the latest version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-state-'));
    dirs.push(dir);
    new StateStore(join(dir, 'state.db')).close();
    expect(version(join(dir, 'state.db'))).toBe(STATE_VERSION);
  });

  it('refuses a database of a newer version with a clear message, and leaves it alone', () => {
    const db = copyOfFixture();
    const raw = new Database(db);
    raw.pragma(`user_version = ${STATE_VERSION + 1}`);
    raw.exec('CREATE TABLE future (x)');
    raw.close();
    const before = readFileSync(db);
    expect(() => new StateStore(db)).toThrow(StateVersionError);
    expect(() => new StateStore(db)).toThrow(
      new RegExp(
        `written by a newer version of Tandem \\(state version ${STATE_VERSION + 1}; this one reads up to ${STATE_VERSION}\\): upgrade Tandem`,
      ),
    );
    expect(readFileSync(db).equals(before)).toBe(true);
  });

  it('leaves out, and holds, a remote row that an earlier release stored unchecked', () => {
    const db = copyOfFixture();
    const raw = new Database(db);
    const insert = raw.prepare(
      'INSERT OR REPLACE INTO remote (path, entry, seq, node) VALUES (?, ?, ?, ?)',
    );
    insert.run('../escape.txt', JSON.stringify(file('d', 3, 1000)), 5, 5);
    insert.run('notes/todo.txt', JSON.stringify(file('e', 3, 1e18)), 6, 2);
    raw.close();
    const store = new StateStore(db);
    expect(store.remote.has('../escape.txt')).toBe(false);
    expect(store.remote.has('notes/todo.txt')).toBe(false);
    expect(store.isHeld('notes/todo.txt')).toBe(true);
    expect(store.problems.get('notes/todo.txt')?.message).toMatch(/from 1970 to 2200/);
    expect(store.problems.get('../escape.txt')?.message).toMatch(/"\.\." segments/);
    store.close();
    const again = new StateStore(db);
    expect(again.isHeld('notes/todo.txt')).toBe(true);
    again.close();
  });
});

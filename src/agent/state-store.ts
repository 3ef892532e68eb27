/**
 * The agent's local state, in `DIR/.tandem/state.db` (SQLite): the link to the hub, the
 * cursor, the remote tree (the hub's entries as of the cursor), the base tree (what both
 * sides agreed on), a cache of file hashes keyed by inode/size/mtime/ctime, a log of decisions, and
 * the paths the agent cannot sync now, with why (read by `tandem status`).
 *
 * The trees are also held in memory; every mutation writes through in its own transaction,
 * so a crash leaves the database at a state the planner can start from again. Not safe for
 * use by two agents at once (the agent holds a lock file); `tandem status` may read it while
 * an agent runs.
 */
import Database from 'better-sqlite3';
import {
  identicalEntry,
  withMode,
  type BaseNode,
  type Entry,
  type RemoteNode,
} from '../core/entry.js';
import type { ChunkRef } from '../core/hashing.js';
import type { ChunkId, ContentId } from '../core/ids.js';
import { isInside, rebase } from '../core/paths.js';
import type { ChangesResponse, JournalRow, RemoteRecord } from '../protocol/api.js';
import { checkRecord, checkRow, notAFolderAbove, type FeedRefusal } from './feed-check.js';

export interface LinkInfo {
  readonly hub: string;
  readonly workspaceId: string;
  readonly workspaceName: string;
  readonly deviceId: string;
}

/**
 * A file's hash as of a given inode, size, mtime and ctime: lets an unchanged file skip
 * hashing. The ctime is what a rewrite that puts size and mtime back cannot restore.
 */
export interface HashRecord {
  readonly ino: number;
  readonly size: number;
  /** Nanoseconds, as `Stat.mtimeNs`. */
  readonly mtimeNs: bigint;
  /**
   * Nanoseconds, as `Stat.ctimeNs`. Both are `UNKNOWN_TIME_NS` in a record kept before they
   * were (no file has that time: such a record is never trusted to skip hashing).
   */
  readonly ctimeNs: bigint;
  readonly contentId: ContentId;
  readonly chunks: readonly ChunkRef[];
  /** When it was hashed; a file modified within the same instant must be hashed again. */
  readonly hashedAt: number;
}

/** The mtime and ctime of a hash record from a database before version 3, which kept none. */
export const UNKNOWN_TIME_NS = -1n;

export interface ChunkLocation {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
}

export interface Decision {
  readonly time: number;
  readonly path: string;
  readonly action: string;
  readonly detail: string;
}

/**
 * Why a path cannot be synced now. `feed`: the hub sent an invalid change for it (the path
 * is held as it was until the hub sends a valid one); `apply`: a change for it failed here
 * (it is tried again later, see PathProblems); `local`: the disk holds something there that
 * is never synced (a pipe, a socket, a device), kept as each scan finds it (see SyncEngine);
 * `scan`: the scan cannot sync what is on disk there (a name that is not valid UTF-8 or not
 * allowed, a file it cannot read), until the disk changes; `case`: the hub has another path
 * that differs from it only in case, which this disk cannot hold beside it (the path is
 * held, as for `feed`, while that lasts).
 */
export interface StoredProblem {
  readonly kind: 'feed' | 'apply' | 'local' | 'scan' | 'case';
  readonly message: string;
  /** When it was first seen (ms since the epoch). */
  readonly since: number;
}

/**
 * A local deletion the mass-deletion guard holds back (see DeletionGuard): not sent until the
 * person confirms it (`confirmed`), or forgotten when the file is brought back.
 */
export interface HeldDeletion {
  readonly kind: Entry['kind'];
  /** Why the round's deletions were held, in words (for the log and `tandem status`). */
  readonly reason: string;
  /** When it was first held (ms since the epoch). */
  readonly since: number;
  /** The person confirmed it (`tandem sync DIR --confirm-deletions`): send it. */
  readonly confirmed: boolean;
}

/** What `tandem sync DIR --confirm-deletions` / `--restore-held` asks of the agent. */
export const DELETION_REQUESTS = ['confirm', 'restore'] as const;
export type DeletionRequest = (typeof DELETION_REQUESTS)[number];

/**
 * The schema, one migration per version (`PRAGMA user_version`), each run once in its own
 * transaction. Version 1 is the schema exactly as the release before versions created it (it
 * left user_version at 0, so a database with tables and version 0 is at version 1); a new
 * migration is appended, never edited.
 */
const MIGRATIONS: readonly string[] = [
  // 1: the link, the cursor, the two trees, the hash cache and the decision log.
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS remote (path TEXT PRIMARY KEY, entry TEXT NOT NULL, seq INTEGER NOT NULL, node INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS base (path TEXT PRIMARY KEY, entry TEXT NOT NULL, seq INTEGER NOT NULL, node INTEGER NOT NULL, ino INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, content_id TEXT NOT NULL, chunks TEXT NOT NULL, hashed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, path TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_path ON decisions (path, id);`,
  // 2: the paths that cannot be synced now, for `tandem status`.
  `CREATE TABLE problems (path TEXT PRIMARY KEY, kind TEXT NOT NULL, message TEXT NOT NULL, since INTEGER NOT NULL);`,
  // 3: the hash cache keeps each file's mtime and ctime in nanoseconds (null in rows from
  // before: their files are hashed again once, on the next scan).
  `ALTER TABLE hashes ADD COLUMN mtime_ns INTEGER;
ALTER TABLE hashes ADD COLUMN ctime_ns INTEGER;`,
  // 4: local deletions held back by the mass-deletion guard until the person confirms them
  // (or has them restored from the hub); see DeletionGuard.
  `CREATE TABLE held_deletions (path TEXT PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL, since INTEGER NOT NULL, confirmed INTEGER NOT NULL DEFAULT 0);`,
];

/** The schema version this code writes. */
export const STATE_VERSION = MIGRATIONS.length;

/** The state database was written by a newer Tandem, whose schema this one cannot read. */
export class StateVersionError extends Error {
  override readonly name = 'StateVersionError';
}

/**
 * True for SQLite's errors that say the database file itself is damaged ("database disk
 * image is malformed", "file is not a database"), as opposed to a full disk or a lock.
 */
export function isDamageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
  );
}

const MAX_DECISIONS = 50_000;

export class StateStore {
  private readonly db: Database.Database;
  /** Prepared once, run many times: preparing costs more than most of these statements. */
  private readonly statements = new Map<string, Database.Statement>();

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }
  readonly remote = new Map<string, RemoteNode>();
  readonly base = new Map<string, BaseNode>();
  readonly hashes = new Map<string, HashRecord>();
  private readonly problemsByPath = new Map<string, StoredProblem>();
  /** Paths (valid ones) held because the hub sent an invalid change for them: `feed` problems. */
  private readonly held = new Set<string>();
  private decisionCount = 0;

  /**
   * Opens (creating) the state database at `file` (':memory:' for tests), bringing its schema
   * up to this version. Throws StateVersionError for a database of a newer version. Returns
   * the version it was at.
   */
  constructor(file: string) {
    this.db = new Database(file);
    let found: number;
    try {
      found = this.migrate(file);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.db.pragma('synchronous = NORMAL');
    // (Version 2 checks every remote row before it stores it: only older rows need a look.)
    this.load(found < 2);
    this.decisionCount = (this.sql('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
  }

  /**
   * Runs the migrations the database lacks, each once, in its own transaction, which checks
   * the version again (another process may have migrated meanwhile). Nothing is changed in a
   * database of a newer version.
   */
  private migrate(file: string): number {
    const version = (): number => {
      const stored = this.db.pragma('user_version', { simple: true }) as number;
      if (stored > STATE_VERSION)
        throw new StateVersionError(
          `${file} was written by a newer version of Tandem (state version ${stored}; this one reads up to ${STATE_VERSION}): upgrade Tandem on this device`,
        );
      if (stored > 0) return stored;
      // The release before versions left 0 behind: its tables mean version 1.
      const tables = this.db
        .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
        .get() as { n: number };
      return tables.n > 0 ? 1 : 0;
    };
    const found = version();
    this.db.pragma('journal_mode = WAL');
    for (let next = found + 1; next <= STATE_VERSION; next++) {
      this.db
        .transaction(() => {
          if (version() >= next) return;
          this.db.exec(MIGRATIONS[next - 1]!);
          this.db.pragma(`user_version = ${next}`);
        })
        .immediate();
    }
    return found;
  }

  /**
   * Reads the three tables into memory in one pass over their paths. With 100,000 files this
   * is most of the start-up time and of the agent's memory at rest, so a path's string, and
   * an entry the base shares with the remote tree, are held once, not once per table.
   *
   * With `checkRemote` (a database from before version 2, whose release stored whatever the
   * hub sent), remote rows are checked as the feed's rows are: one that fails is left out,
   * removed, and its path held. Later versions check rows before storing them, so a start-up
   * with 100,000 files does not pay for it again (about 0.25 s).
   */
  private load(checkRemote: boolean): void {
    for (const row of this.sql('SELECT path, kind, message, since FROM problems').all() as {
      path: string;
      kind: StoredProblem['kind'];
      message: string;
      since: number;
    }[]) {
      this.problemsByPath.set(row.path, { kind: row.kind, message: row.message, since: row.since });
      if (row.kind === 'feed' || row.kind === 'case') this.held.add(row.path);
    }
    const refused: [string, FeedRefusal][] = [];
    const rows = this.sql(
      `WITH paths AS (SELECT path FROM remote UNION SELECT path FROM base UNION SELECT path FROM hashes)
       SELECT p.path, r.entry, r.seq, r.node,
         CASE WHEN b.entry = r.entry THEN NULL ELSE b.entry END, b.seq, b.node, b.ino,
         h.ino, h.size, h.mtime_ns, h.ctime_ns, h.content_id, h.chunks, h.hashed_at
       FROM paths p
       LEFT JOIN remote r ON r.path = p.path
       LEFT JOIN base b ON b.path = p.path
       LEFT JOIN hashes h ON h.path = p.path`,
    )
      .raw()
      // Integers as BigInt, for the nanoseconds (the rest fit a double and are converted).
      .safeIntegers(true);
    for (const row of rows.iterate() as IterableIterator<LoadRow>) {
      const [path, remoteJson, , , baseJson] = row;
      const remoteSeq = numberOrNull(row[2]);
      const remoteNode = numberOrNull(row[3]);
      const baseSeq = numberOrNull(row[5]);
      let remote: Entry | undefined;
      if (remoteJson !== null) {
        remote = JSON.parse(remoteJson) as Entry;
        const refusal = checkRemote
          ? checkRecord({ path, seq: remoteSeq, node: remoteNode, entry: remote }, 0)
          : undefined;
        if (refusal) refused.push([path, refusal]);
        // (Entries stored by the release before modes, or sent by a hub of that release,
        // have none: they take the modes that release wrote.)
        else {
          remote = withMode(remote);
          this.remote.set(path, { entry: remote, seq: remoteSeq!, node: remoteNode! });
        }
      }
      let base: Entry | undefined;
      if (baseSeq !== null) {
        base = baseJson === null ? remote! : withMode(JSON.parse(baseJson) as Entry);
        this.base.set(path, {
          entry: base,
          seq: baseSeq,
          node: Number(row[6]),
          ino: Number(row[7]),
        });
      }
      const [, , , , , , , , ino, size, mtimeNs, ctimeNs, contentId, chunks, hashedAt] = row;
      if (ino === null) continue;
      const record: HashRecord = {
        ino: Number(ino),
        size: Number(size),
        mtimeNs: mtimeNs ?? UNKNOWN_TIME_NS,
        ctimeNs: ctimeNs ?? UNKNOWN_TIME_NS,
        contentId:
          sameContentId(base, contentId!) ??
          sameContentId(remote, contentId!) ??
          (contentId as ContentId),
        chunks: decodeChunks(chunks!),
        hashedAt: Number(hashedAt),
      };
      this.hashes.set(path, record);
      this.index(path, record);
    }
    if (refused.length === 0) return;
    const now = Date.now();
    this.db.transaction(() => {
      for (const [path, refusal] of refused) {
        this.sql('DELETE FROM remote WHERE path = ?').run(path);
        this.refuseFeed(refusal, 'an entry stored from the hub', now);
      }
    })();
  }

  close(): void {
    this.db.close();
  }

  /**
   * SQLite's `quick_check`: undefined when the database is sound, else its first finding.
   * Reads every page (about 60 ms with 50,000 files); may throw a damage error instead.
   */
  check(): string | undefined {
    const finding = this.db.pragma('quick_check(1)', { simple: true }) as string | undefined;
    return finding === 'ok' ? undefined : (finding ?? 'quick_check found nothing to read');
  }

  /**
   * Writes a consistent copy of this database (its WAL included) to `file`: a look ahead
   * (`tandem status` folding in the hub's newer changes) works on the copy, never on the
   * state a running agent holds in memory.
   */
  async copyTo(file: string): Promise<void> {
    await this.db.backup(file);
  }

  /** Since when (ms) the agent has failed to reach the hub, or undefined while it reaches it. */
  get hubUnreachableSince(): number | undefined {
    const value = this.meta('hub_unreachable_since');
    return value === undefined ? undefined : Number(value);
  }

  setHubUnreachableSince(since: number | undefined): void {
    if (since === undefined)
      this.sql('DELETE FROM meta WHERE key = ?').run('hub_unreachable_since');
    else this.setMeta('hub_unreachable_since', String(since));
  }

  // Deletions held by the mass-deletion guard, and the person's answer to them. Read from the
  // database each time, not memory: `tandem sync DIR --confirm-deletions` writes the answer
  // through its own connection while an agent runs, and waits on the agent's writes.

  /** The held deletions, by path (confirmed ones included until they are sent). */
  heldDeletions(): Map<string, HeldDeletion> {
    const rows = this.sql(
      'SELECT path, kind, reason, since, confirmed FROM held_deletions ORDER BY path',
    ).all() as {
      path: string;
      kind: Entry['kind'];
      reason: string;
      since: number;
      confirmed: number;
    }[];
    return new Map(
      rows.map((r) => [
        r.path,
        { kind: r.kind, reason: r.reason, since: r.since, confirmed: r.confirmed !== 0 },
      ]),
    );
  }

  /** Records (or, with undefined, forgets) held deletions, in one transaction. */
  setHeldDeletions(changes: Iterable<[string, HeldDeletion | undefined]>): void {
    const upsert = this.sql(
      'INSERT OR REPLACE INTO held_deletions (path, kind, reason, since, confirmed) VALUES (?, ?, ?, ?, ?)',
    );
    const remove = this.sql('DELETE FROM held_deletions WHERE path = ?');
    this.db.transaction(() => {
      for (const [path, held] of changes) {
        if (held) upsert.run(path, held.kind, held.reason, held.since, held.confirmed ? 1 : 0);
        else remove.run(path);
      }
    })();
  }

  /** The person's pending answer to the held deletions, if any. */
  get deletionRequest(): DeletionRequest | undefined {
    const value = this.meta('deletion_request');
    return DELETION_REQUESTS.find((r) => r === value);
  }

  /** Records the person's answer, for the agent's next round (or, undefined, withdraws it). */
  setDeletionRequest(request: DeletionRequest | undefined): void {
    if (request === undefined) this.sql('DELETE FROM meta WHERE key = ?').run('deletion_request');
    else this.setMeta('deletion_request', request);
  }

  /**
   * Takes the pending answer and carries it out in one transaction: `confirm` marks every
   * held deletion confirmed (the round sends them); `restore` forgets the base of every held
   * path and the holds, so the planner downloads the hub's version again (the hub still has
   * them: their deletions were never sent). Returns the answer taken and the paths it was
   * about, or undefined when none was pending.
   */
  takeDeletionRequest(): { request: DeletionRequest; paths: string[] } | undefined {
    return this.db.transaction(() => {
      const request = this.deletionRequest;
      if (request === undefined) return undefined;
      this.setDeletionRequest(undefined);
      const held = this.heldDeletions();
      const paths = [...held.keys()];
      if (request === 'confirm') this.sql('UPDATE held_deletions SET confirmed = 1').run();
      else {
        for (const path of paths) this.setBase(path, undefined);
        this.sql('DELETE FROM held_deletions').run();
      }
      return { request, paths };
    })();
  }

  // Link and cursor.

  get link(): LinkInfo | undefined {
    const value = this.meta('link');
    return value ? (JSON.parse(value) as LinkInfo) : undefined;
  }

  setLink(link: LinkInfo): void {
    this.setMeta('link', JSON.stringify(link));
  }

  get cursor(): number {
    return Number(this.meta('cursor') ?? 0);
  }

  private meta(key: string): string | undefined {
    return (
      this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
    )?.value;
  }

  private setMeta(key: string, value: string): void {
    this.sql(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ).run(key, value);
  }

  // Remote tree.

  /**
   * Applies one page of the change feed (whose order `checkPage` checked) and advances the
   * cursor, in one transaction: the remote tree and the cursor never disagree. A row or record
   * that fails its checks (`checkRow`, `checkRecord`) is passed over, and the cursor still
   * moves past it; the valid paths it names keep the remote state they had (the previous one,
   * even across a snapshot) and are held, as `feed` problems, until a valid change for them
   * arrives. Returns the problems new or changed by this page (to report once).
   */
  applyChanges(page: ChangesResponse, now = Date.now()): FeedProblem[] {
    const upsert = this.sql(
      'INSERT OR REPLACE INTO remote (path, entry, seq, node) VALUES (?, ?, ?, ?)',
    );
    const remove = this.sql('DELETE FROM remote WHERE path = ?');
    const fresh: FeedProblem[] = [];
    this.db.transaction(() => {
      if (page.snapshot) {
        this.applySnapshot(page.snapshot, upsert, now, fresh);
        this.setMeta('cursor', String(page.head));
        return;
      }
      let cursor = this.cursor;
      for (const row of page.rows ?? []) {
        const refusal = checkRow(row, this.remote);
        if (refusal) fresh.push(...this.refuseFeed(refusal, `the change at seq ${row.seq}`, now));
        else this.applyRow(row, upsert, remove);
        cursor = row.seq;
      }
      this.setMeta('cursor', String(cursor));
    })();
    return fresh;
  }

  /**
   * Replaces the remote tree with a snapshot. A path whose record is refused keeps the node
   * it had: without one, the planner would take the record's absence for a deletion on the
   * hub and delete the local copy. Earlier `feed` problems are forgotten: the snapshot is
   * the whole truth, and what is still wrong in it is reported again.
   */
  private applySnapshot(
    records: readonly RemoteRecord[],
    upsert: Database.Statement,
    now: number,
    fresh: FeedProblem[],
  ): void {
    const next = new Map<string, RemoteNode>();
    const refused: FeedRefusal[] = [];
    records.forEach((record, i) => {
      const refusal = checkRecord(record, i);
      if (refusal) refused.push(refusal);
      else
        next.set(record.path, {
          entry: this.shared(record.path, record.entry),
          seq: record.seq,
          node: record.node,
        });
    });
    for (const [path] of next) {
      const above = notAFolderAbove(path, next);
      if (above) refused.push({ reason: above, labels: [path], held: [path] });
    }
    for (const { held } of refused)
      for (const path of held) {
        next.delete(path);
        const previous = this.remote.get(path);
        if (previous) next.set(path, previous);
      }
    this.sql('DELETE FROM remote').run();
    this.remote.clear();
    for (const [path, node] of next) {
      this.remote.set(path, node);
      upsert.run(path, JSON.stringify(node.entry), node.seq, node.node);
    }
    const named = new Set<string>();
    for (const refusal of refused) {
      fresh.push(...this.refuseFeed(refusal, 'a snapshot record', now));
      for (const label of refusal.labels) named.add(label);
    }
    for (const [path, problem] of [...this.problemsByPath])
      if (problem.kind === 'feed' && !named.has(path)) this.setProblem(path, undefined);
  }

  /**
   * Records a refused row or record: a `feed` problem for each path it names, its valid ones
   * held. Returns those new or changed.
   */
  private refuseFeed(refusal: FeedRefusal, what: string, now: number): FeedProblem[] {
    const message = `the hub sent an invalid change (${what}): ${refusal.reason}; ${
      refusal.held.length > 0
        ? 'left as it is here until the hub sends a valid change for it'
        : 'ignored'
    }`;
    const out: FeedProblem[] = [];
    for (const path of refusal.labels) {
      const previous = this.problemsByPath.get(path);
      if (previous?.message === message) continue;
      this.setProblem(path, { kind: 'feed', message, since: previous?.since ?? now });
      out.push({ path, message });
    }
    return out;
  }

  /** A valid change arrived for `path`: it is no longer held. */
  private release(path: string): void {
    if (this.held.has(path) && this.problemsByPath.get(path)?.kind === 'feed')
      this.setProblem(path, undefined);
  }

  private applyRow(row: JournalRow, upsert: Database.Statement, remove: Database.Statement): void {
    this.release(row.path);
    switch (row.op) {
      case 'put': {
        const entry = this.shared(row.path, row.entry!);
        this.remote.set(row.path, { entry, seq: row.seq, node: row.node });
        upsert.run(row.path, JSON.stringify(entry), row.seq, row.node);
        return;
      }
      case 'delete':
        this.remote.delete(row.path);
        remove.run(row.path);
        return;
      case 'move': {
        const from = row.from!;
        const moved: [string, RemoteNode][] = [];
        for (const [path, node] of this.remote) {
          if (path === from || isInside(path, from)) moved.push([path, node]);
        }
        for (const [path] of moved) {
          this.remote.delete(path);
          remove.run(path);
        }
        for (const [path, node] of moved) {
          const to = rebase(path, from, row.path);
          const next =
            path === from
              ? {
                  entry: row.entry !== undefined ? withMode(row.entry) : node.entry,
                  seq: row.seq,
                  node: row.node,
                }
              : node;
          this.remote.set(to, next);
          upsert.run(to, JSON.stringify(next.entry), next.seq, next.node);
        }
        // What was held there moved with it, but for the moved root when the row says what
        // it is now.
        if (this.held.size > 0)
          for (const path of [...this.held]) {
            if (path === from && row.entry !== undefined) this.release(path);
            if (path !== from && !isInside(path, from)) continue;
            const problem = this.problemsByPath.get(path);
            if (!problem) continue;
            this.setProblem(path, undefined);
            this.setProblem(rebase(path, from, row.path), problem);
          }
        return;
      }
    }
  }

  /**
   * The entry this device already holds for `path` when it is identical to `entry` (as it is
   * once a change this device sent comes back in the feed), so the base and remote trees
   * share one object and one content id string, as they do after `load`. An entry without a
   * mode (from a hub of the release before modes) is given the one that release wrote.
   */
  private shared(path: string, raw: Entry): Entry {
    const entry = withMode(raw);
    const held = this.base.get(path)?.entry;
    return held !== undefined && identicalEntry(held, entry) ? held : entry;
  }

  /** Forgets the remote tree and cursor (the hub was restored: resync from zero). */
  resetRemote(): void {
    this.db.transaction(() => {
      this.sql('DELETE FROM remote').run();
      this.setMeta('cursor', '0');
    })();
    this.remote.clear();
  }

  // Problems.

  /** The paths that cannot be synced now, and why. */
  get problems(): ReadonlyMap<string, StoredProblem> {
    return this.problemsByPath;
  }

  /** Records (or, with undefined, forgets) the problem of a path. */
  setProblem(path: string, problem: StoredProblem | undefined): void {
    if (problem) {
      this.problemsByPath.set(path, problem);
      if (problem.kind === 'feed' || problem.kind === 'case') this.held.add(path);
      else this.held.delete(path);
      this.sql(
        'INSERT OR REPLACE INTO problems (path, kind, message, since) VALUES (?, ?, ?, ?)',
      ).run(path, problem.kind, problem.message, problem.since);
    } else if (this.problemsByPath.delete(path)) {
      this.held.delete(path);
      this.sql('DELETE FROM problems WHERE path = ?').run(path);
    }
  }

  /**
   * True when `path`, or a folder above it, is held because the hub sent an invalid change
   * for it (nothing is done there until a valid one arrives), or because this disk cannot
   * hold it beside another path that differs only in case (`case`).
   */
  isHeld(path: string): boolean {
    if (this.held.size === 0) return false;
    if (this.held.has(path)) return true;
    for (let at = path.indexOf('/'); at > 0; at = path.indexOf('/', at + 1))
      if (this.held.has(path.slice(0, at))) return true;
    return false;
  }

  /** Bytes of the file the hub has at `path` (0 for none, or for a folder or link). */
  remoteSize(path: string): number {
    const entry = this.remote.get(path)?.entry;
    return entry?.kind === 'file' ? entry.size : 0;
  }

  // Base tree.

  setBase(path: string, node: BaseNode | undefined): void {
    if (node) {
      this.base.set(path, node);
      this.sql(
        'INSERT OR REPLACE INTO base (path, entry, seq, node, ino) VALUES (?, ?, ?, ?, ?)',
      ).run(path, JSON.stringify(node.entry), node.seq, node.node, node.ino);
    } else {
      this.base.delete(path);
      this.sql('DELETE FROM base WHERE path = ?').run(path);
    }
  }

  /** Re-keys the base subtree at `from` to `to` (after a rename both sides agree on). */
  moveBase(from: string, to: string, root: BaseNode): void {
    const moved: [string, BaseNode][] = [];
    for (const [path, node] of this.base)
      if (path === from || isInside(path, from)) moved.push([path, node]);
    this.db.transaction(() => {
      for (const [path] of moved) this.setBase(path, undefined);
      for (const [path, node] of moved)
        this.setBase(rebase(path, from, to), path === from ? root : node);
      this.moveHashes(from, to);
    })();
  }

  /** Runs `fn` in one transaction (for many base updates at once). */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  // Hash cache.

  setHash(path: string, record: HashRecord | undefined): void {
    const previous = this.hashes.get(path);
    if (previous) this.unindex(path, previous);
    if (record) this.index(path, record);
    if (record) {
      this.hashes.set(path, record);
      this.sql(
        'INSERT OR REPLACE INTO hashes (path, ino, size, mtime, mtime_ns, ctime_ns, content_id, chunks, hashed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        path,
        record.ino,
        record.size,
        // (Whole ms too, as the column of version 1 holds them.)
        Math.round(Number(record.mtimeNs) / 1e6),
        record.mtimeNs,
        record.ctimeNs,
        record.contentId,
        encodeChunks(record.chunks),
        record.hashedAt,
      );
    } else if (this.hashes.delete(path)) {
      this.sql('DELETE FROM hashes WHERE path = ?').run(path);
    }
  }

  // Indexes over the hash cache, kept current by setHash: which local file holds a chunk or
  // a whole content. One holder each is enough (a miss only costs a download).
  private readonly chunkHolders = new Map<ChunkId, string>();
  private readonly contentHolders = new Map<ContentId, string>();

  private index(path: string, record: HashRecord): void {
    this.contentHolders.set(record.contentId, path);
    for (const chunk of record.chunks) this.chunkHolders.set(chunk.id, path);
  }

  private unindex(path: string, record: HashRecord): void {
    if (this.contentHolders.get(record.contentId) === path)
      this.contentHolders.delete(record.contentId);
    for (const chunk of record.chunks)
      if (this.chunkHolders.get(chunk.id) === path) this.chunkHolders.delete(chunk.id);
  }

  /** A local file whose cached hash has exactly this content. */
  contentRecord(contentId: ContentId): HashRecord | undefined {
    const path = this.contentHolders.get(contentId);
    return path === undefined ? undefined : this.hashes.get(path);
  }

  /** Where a chunk can be read locally (per the hash cache: the reader must verify it). */
  readonly chunks = {
    has: (id: ChunkId): boolean => this.chunkHolders.has(id),
    get: (id: ChunkId): ChunkLocation | undefined => {
      const path = this.chunkHolders.get(id);
      const record = path === undefined ? undefined : this.hashes.get(path);
      if (path === undefined || !record) return undefined;
      const offset = offsetsOf(record).get(id);
      return offset === undefined ? undefined : { path, offset: offset[0], size: offset[1] };
    },
  };

  private moveHashes(from: string, to: string): void {
    const moved: [string, HashRecord][] = [];
    for (const [path, record] of this.hashes)
      if (path === from || isInside(path, from)) moved.push([path, record]);
    for (const [path] of moved) this.setHash(path, undefined);
    for (const [path, record] of moved) this.setHash(rebase(path, from, to), record);
  }

  // Decisions, for `tandem explain`.

  logDecision(path: string, action: string, detail: string, time: number): void {
    this.sql('INSERT INTO decisions (time, path, action, detail) VALUES (?, ?, ?, ?)').run(
      time,
      path,
      action,
      detail,
    );
    if (++this.decisionCount > MAX_DECISIONS) {
      this.sql('DELETE FROM decisions WHERE id <= (SELECT max(id) FROM decisions) - ?').run(
        MAX_DECISIONS / 2,
      );
      this.decisionCount = MAX_DECISIONS / 2;
    }
  }

  decisions(path: string, limit: number): Decision[] {
    return (
      this.sql(
        'SELECT time, path, action, detail FROM decisions WHERE path = ? ORDER BY id DESC LIMIT ?',
      ).all(path, limit) as Decision[]
    ).reverse();
  }
}

/** A path the hub sent something invalid for, and what. */
export interface FeedProblem {
  readonly path: string;
  readonly message: string;
}

/** A path with its remote, base and hash rows (null where a table has none). */
type LoadRow = [
  path: string,
  remoteEntry: string | null,
  remoteSeq: bigint | null,
  remoteNode: bigint | null,
  /** Null when the base entry is the remote one. */
  baseEntry: string | null,
  baseSeq: bigint | null,
  baseNode: bigint | null,
  baseIno: bigint | null,
  hashIno: bigint | null,
  hashSize: bigint | null,
  /** Null in rows from before version 3. */
  hashMtimeNs: bigint | null,
  hashCtimeNs: bigint | null,
  hashContentId: string | null,
  hashChunks: string | null,
  hashedAt: bigint | null,
];

function numberOrNull(value: bigint | null): number | null {
  return value === null ? null : Number(value);
}

/** The entry's own content id string when it is `contentId`, so the two share one string. */
function sameContentId(entry: Entry | undefined, contentId: string): ContentId | undefined {
  return entry?.kind === 'file' && entry.contentId === contentId ? entry.contentId : undefined;
}

/**
 * Where each chunk of a file starts, built on its first lookup: rebuilding a 1 GiB file from a
 * local copy looks up each of its thousands of chunks, and a scan of the list for each cost
 * time quadratic in their number.
 */
const chunkOffsets = new WeakMap<HashRecord, Map<ChunkId, [offset: number, size: number]>>();

function offsetsOf(record: HashRecord): Map<ChunkId, [offset: number, size: number]> {
  let offsets = chunkOffsets.get(record);
  if (!offsets) {
    offsets = new Map();
    let offset = 0;
    for (const chunk of record.chunks) {
      if (!offsets.has(chunk.id)) offsets.set(chunk.id, [offset, chunk.size]);
      offset += chunk.size;
    }
    chunkOffsets.set(record, offsets);
  }
  return offsets;
}

function encodeChunks(chunks: readonly ChunkRef[]): string {
  return JSON.stringify(chunks.map((c) => [c.id, c.size]));
}

function decodeChunks(text: string): ChunkRef[] {
  return (JSON.parse(text) as [string, number][]).map(([id, size]) => ({
    id: id as ChunkId,
    size,
  }));
}

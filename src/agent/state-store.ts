/**
 * The agent's local state, in `DIR/.tandem/state.db` (SQLite): the link to the hub, the
 * cursor, the remote tree (the hub's entries as of the cursor), the base tree (what both
 * sides agreed on), a cache of file hashes keyed by inode/size/mtime, and a log of decisions.
 *
 * The trees are also held in memory; every mutation writes through in its own transaction,
 * so a crash leaves the database at a state the planner can start from again. Not safe for
 * use by two processes at once (the agent holds a lock file).
 */
import Database from 'better-sqlite3';
import { identicalEntry, type BaseNode, type Entry, type RemoteNode } from '../core/entry.js';
import type { ChunkRef } from '../core/hashing.js';
import type { ChunkId, ContentId } from '../core/ids.js';
import { isInside, rebase } from '../core/paths.js';
import type { ChangesResponse, JournalRow } from '../protocol/api.js';

export interface LinkInfo {
  readonly hub: string;
  readonly workspaceId: string;
  readonly workspaceName: string;
  readonly deviceId: string;
}

/** A file's hash as of a given inode, size and mtime: lets an unchanged file skip hashing. */
export interface HashRecord {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly contentId: ContentId;
  readonly chunks: readonly ChunkRef[];
  /** When it was hashed; a file modified within the same instant must be hashed again. */
  readonly hashedAt: number;
}

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS remote (path TEXT PRIMARY KEY, entry TEXT NOT NULL, seq INTEGER NOT NULL, node INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS base (path TEXT PRIMARY KEY, entry TEXT NOT NULL, seq INTEGER NOT NULL, node INTEGER NOT NULL, ino INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, content_id TEXT NOT NULL, chunks TEXT NOT NULL, hashed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, path TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_path ON decisions (path, id);
`;

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
  private decisionCount = 0;

  /** Opens (creating) the state database at `file` (':memory:' for tests). */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.load();
    this.decisionCount = (this.sql('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
  }

  /**
   * Reads the three tables into memory in one pass over their paths. With 100,000 files this
   * is most of the start-up time and of the agent's memory at rest, so a path's string, and
   * an entry the base shares with the remote tree, are held once, not once per table.
   */
  private load(): void {
    const rows = this.sql(
      `WITH paths AS (SELECT path FROM remote UNION SELECT path FROM base UNION SELECT path FROM hashes)
       SELECT p.path, r.entry, r.seq, r.node,
         CASE WHEN b.entry = r.entry THEN NULL ELSE b.entry END, b.seq, b.node, b.ino,
         h.ino, h.size, h.mtime, h.content_id, h.chunks, h.hashed_at
       FROM paths p
       LEFT JOIN remote r ON r.path = p.path
       LEFT JOIN base b ON b.path = p.path
       LEFT JOIN hashes h ON h.path = p.path`,
    ).raw();
    for (const row of rows.iterate() as IterableIterator<LoadRow>) {
      const [path, remoteJson, remoteSeq, remoteNode, baseJson, baseSeq, baseNode, baseIno] = row;
      let remote: Entry | undefined;
      if (remoteJson !== null) {
        remote = JSON.parse(remoteJson) as Entry;
        this.remote.set(path, { entry: remote, seq: remoteSeq!, node: remoteNode! });
      }
      let base: Entry | undefined;
      if (baseSeq !== null) {
        base = baseJson === null ? remote! : (JSON.parse(baseJson) as Entry);
        this.base.set(path, { entry: base, seq: baseSeq, node: baseNode!, ino: baseIno! });
      }
      const [, , , , , , , , ino, size, mtime, contentId, chunks, hashedAt] = row;
      if (ino === null) continue;
      const record: HashRecord = {
        ino,
        size: size!,
        mtimeMs: mtime!,
        contentId:
          sameContentId(base, contentId!) ??
          sameContentId(remote, contentId!) ??
          (contentId as ContentId),
        chunks: decodeChunks(chunks!),
        hashedAt: hashedAt!,
      };
      this.hashes.set(path, record);
      this.index(path, record);
    }
  }

  close(): void {
    this.db.close();
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
   * Applies one page of the change feed and advances the cursor, in one transaction: the
   * remote tree and the cursor never disagree.
   */
  applyChanges(page: ChangesResponse): void {
    const upsert = this.sql(
      'INSERT OR REPLACE INTO remote (path, entry, seq, node) VALUES (?, ?, ?, ?)',
    );
    const remove = this.sql('DELETE FROM remote WHERE path = ?');
    this.db.transaction(() => {
      if (page.snapshot) {
        this.sql('DELETE FROM remote').run();
        this.remote.clear();
        for (const record of page.snapshot) {
          const entry = this.shared(record.path, record.entry);
          this.remote.set(record.path, { entry, seq: record.seq, node: record.node });
          upsert.run(record.path, JSON.stringify(record.entry), record.seq, record.node);
        }
        this.setMeta('cursor', String(page.head));
        return;
      }
      let cursor = this.cursor;
      for (const row of page.rows ?? []) {
        this.applyRow(row, upsert, remove);
        cursor = row.seq;
      }
      this.setMeta('cursor', String(cursor));
    })();
  }

  private applyRow(row: JournalRow, upsert: Database.Statement, remove: Database.Statement): void {
    switch (row.op) {
      case 'put':
        this.remote.set(row.path, {
          entry: this.shared(row.path, row.entry!),
          seq: row.seq,
          node: row.node,
        });
        upsert.run(row.path, JSON.stringify(row.entry), row.seq, row.node);
        return;
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
            path === from ? { entry: row.entry ?? node.entry, seq: row.seq, node: row.node } : node;
          this.remote.set(to, next);
          upsert.run(to, JSON.stringify(next.entry), next.seq, next.node);
        }
        return;
      }
    }
  }

  /**
   * The entry this device already holds for `path` when it is identical to `entry` (as it is
   * once a change this device sent comes back in the feed), so the base and remote trees
   * share one object and one content id string, as they do after `load`.
   */
  private shared(path: string, entry: Entry): Entry {
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
        'INSERT OR REPLACE INTO hashes (path, ino, size, mtime, content_id, chunks, hashed_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(
        path,
        record.ino,
        record.size,
        record.mtimeMs,
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

/** A path with its remote, base and hash rows (null where a table has none). */
type LoadRow = [
  path: string,
  remoteEntry: string | null,
  remoteSeq: number | null,
  remoteNode: number | null,
  /** Null when the base entry is the remote one. */
  baseEntry: string | null,
  baseSeq: number | null,
  baseNode: number | null,
  baseIno: number | null,
  hashIno: number | null,
  hashSize: number | null,
  hashMtime: number | null,
  hashContentId: string | null,
  hashChunks: string | null,
  hashedAt: number | null,
];

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

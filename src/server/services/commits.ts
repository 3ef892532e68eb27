/**
 * Commits and the change feed. A commit applies a batch of operations in one transaction;
 * each operation is a compare-and-swap on the seq its author last saw at that path, so an
 * update based on a stale view is rejected (as a conflict, with the current entry) instead of
 * overwriting. The rest of the batch still commits.
 */
import type { Transaction } from 'kysely';
import { checkEntry } from '../../core/entry-check.js';
import { inheritMode, type Entry } from '../../core/entry.js';
import { contentIdOf } from '../../core/hashing.js';
import type { ChunkId, ContentId } from '../../core/ids.js';
import { ancestorsOf, checkPath, isSameOrInside } from '../../core/paths.js';
import type {
  ChangesResponse,
  CommitFailure,
  CommitRequest,
  CommitResponse,
  OpResult,
  RemoteRecord,
  WireOp,
} from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import { possessed } from './chunks.js';
import type { Database, EntryTable, JournalTable } from '../db/schema.js';
import { columnsToEntry, entryToColumns, toJournalRow, toRemoteRecord } from './rows.js';

/**
 * The mode of a folder the hub creates, for a put below it, where no folder was before:
 * private to its owner, since nobody said otherwise (never wider than what was asked).
 */
export const IMPLIED_DIR_MODE = 0o700;

/** Returns the feed after `since`, or the whole current tree when `since` is 0. */
export async function changes(
  ctx: HubContext,
  workspaceId: string,
  since: number,
  limit: number,
): Promise<ChangesResponse> {
  return ctx.db.transaction().execute(async (trx) => {
    const ws = await trx
      .selectFrom('workspaces')
      .select('head')
      .where('id', '=', workspaceId)
      .executeTakeFirst();
    // (Deleted after the access check let this commit in: nothing of it is written.)
    if (!ws) throw TandemError.of('WORKSPACE_NOT_FOUND', workspaceId);
    const head = Number(ws.head);
    if (since > head) throw TandemError.of('CURSOR_AHEAD', since, head);
    if (since === 0) {
      const rows = await trx
        .selectFrom('entries')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('path')
        .execute();
      return { head, snapshot: rows.map(toRemoteRecord), more: false };
    }
    const rows = await trx
      .selectFrom('journal')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute();
    const last = rows.length > 0 ? Number(rows[rows.length - 1]!.seq) : since;
    return { head, rows: rows.map(toJournalRow), more: last < head };
  });
}

/** The journal rows of one path, newest first: its version history. */
export async function history(ctx: HubContext, workspaceId: string, path: string, limit: number) {
  const rows = await ctx.db
    .selectFrom('journal')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where((eb) => eb.or([eb('path', '=', path), eb('from_path', '=', path)]))
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toJournalRow);
}

/**
 * Applies a commit. Manifests sent along are verified: their ids and sizes add up (400
 * otherwise), every chunk is stored with the size the manifest gives it (400 otherwise), and
 * in the workspace's possession (else the operations that need the manifest report
 * missing-content). Then they are recorded and the operations run in order, in one
 * transaction, acknowledged only once it is durable.
 */
export async function commit(
  ctx: HubContext,
  caller: Caller,
  workspaceId: string,
  request: CommitRequest,
): Promise<CommitResponse> {
  const manifests = request.manifests ?? [];
  checkManifests(manifests);
  // Uploaded chunks become durable here, before anything that refers to them is committed.
  // One sync for every chunk, and the manifests go in the operations' transaction: a commit
  // of ten thousand small files must not cost ten thousand fsyncs.
  await ctx.chunks.sync();
  const { head, results } = await ctx.db.transaction().execute(async (trx) => {
    const knownContent = await recordManifests(trx, ctx, workspaceId, manifests);
    const ws = await trx
      .selectFrom('workspaces')
      .select('head')
      .where('id', '=', workspaceId)
      .executeTakeFirst();
    // (Deleted after the access check let this commit in: nothing of it is written.)
    if (!ws) throw TandemError.of('WORKSPACE_NOT_FOUND', workspaceId);
    const writer = new JournalWriter(trx, ctx, caller, workspaceId, Number(ws.head));
    await writer.preload(
      request.ops.flatMap((op) => (op.op === 'move' ? [op.from, op.to] : [op.path])),
    );
    const results: OpResult[] = [];
    for (const op of request.ops) results.push(await writer.apply(op, knownContent));
    await writer.flush();
    await trx
      .updateTable('workspaces')
      .set({ head: writer.head })
      .where('id', '=', workspaceId)
      .execute();
    return { head: writer.head, results };
  });
  ctx.stats.commits++;
  ctx.stats.ops += request.ops.length;
  if (results.some((r) => r.ok))
    ctx.events.publish({ kind: 'head', workspace: workspaceId, seq: head });
  return { head, results };
}

type Manifests = NonNullable<CommitRequest['manifests']>;

/** Throws BAD_REQUEST for a manifest whose content id or size does not match its chunks. */
function checkManifests(manifests: Manifests): void {
  for (const manifest of manifests) {
    const chunks = manifest.chunks as { id: ChunkId; size: number }[];
    const size = chunks.reduce((sum, c) => sum + c.size, 0);
    if (contentIdOf(chunks) !== manifest.contentId || size !== manifest.size) {
      throw TandemError.of(
        'BAD_REQUEST',
        `manifest ${manifest.contentId} does not match its chunks (their ids or sizes)`,
      );
    }
  }
}

/**
 * Stores the manifests whose chunks the workspace possesses, links those chunks to it, and
 * returns the size of each content the commit may reference without looking it up. Throws
 * BAD_REQUEST when a manifest gives a chunk of the workspace another size than it has.
 *
 * Runs inside the commit's transaction, which holds the database: possession is checked,
 * and the chunks linked, with no reclaim in between (reclaim.ts takes the same database
 * before it deletes a chunk). Sizes are looked up only for chunks the workspace possesses,
 * so the answer never depends on what other workspaces store.
 */
async function recordManifests(
  trx: Transaction<Database>,
  ctx: HubContext,
  workspaceId: string,
  manifests: Manifests,
): Promise<Map<string, number>> {
  const known = new Map<string, number>();
  if (manifests.length === 0) return known;
  const ids = [...new Set(manifests.flatMap((m) => m.chunks.map((c) => c.id as ChunkId)))];
  const owned = await possessed(trx, workspaceId, ids, ctx.now());
  const sizes = await ctx.chunks.sizes([...owned]);
  const complete: Manifests = [];
  for (const manifest of manifests) {
    let whole = true;
    for (const chunk of manifest.chunks) {
      const stored = sizes.get(chunk.id as ChunkId);
      if (stored === undefined) whole = false;
      else if (stored !== chunk.size)
        throw TandemError.of(
          'BAD_REQUEST',
          `manifest ${manifest.contentId} gives chunk ${chunk.id} ${chunk.size} bytes, but it has ${stored}`,
        );
    }
    if (whole) complete.push(manifest);
  }
  if (complete.length === 0) return known;
  for (let i = 0; i < complete.length; i += 200) {
    await trx
      .insertInto('contents')
      .values(
        complete.slice(i, i + 200).map((m) => ({
          id: m.contentId,
          size: m.size,
          chunks: JSON.stringify(m.chunks.map((c) => [c.id, c.size])),
        })),
      )
      // A verified manifest is the only one its content id can have: it replaces a row that
      // says otherwise (written before manifests were verified).
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            size: eb.ref('excluded.size'),
            chunks: eb.ref('excluded.chunks'),
          }))
          .where((eb) => eb('contents.chunks', '<>', eb.ref('excluded.chunks'))),
      )
      .execute();
  }
  await linkChunks(trx, workspaceId, [
    ...new Set(complete.flatMap((m) => m.chunks.map((c) => c.id))),
  ]);
  for (const m of complete) known.set(m.contentId, m.size);
  return known;
}

/** Records that chunks belong to a workspace, which is what lets its readers download them. */
async function linkChunks(trx: Transaction<Database>, workspaceId: string, ids: readonly string[]) {
  for (let i = 0; i < ids.length; i += 500) {
    const values = ids
      .slice(i, i + 500)
      .map((chunk_id) => ({ workspace_id: workspaceId, chunk_id }));
    await trx
      .insertInto('workspace_chunks')
      .values(values)
      .onConflict((oc) => oc.columns(['workspace_id', 'chunk_id']).doNothing())
      .execute();
  }
}

/** Upper bound of the paths strictly inside `path` (byte order: '/' + 1 = '0'). */
function insideRange(path: string): { lower: string; upper: string } {
  return { lower: `${path}/`, upper: `${path}0` };
}

/** Applies operations inside one transaction, allocating seqs from the workspace head. */
class JournalWriter {
  constructor(
    private readonly trx: Transaction<Database>,
    private readonly ctx: HubContext,
    private readonly caller: Caller,
    private readonly workspaceId: string,
    public head: number,
  ) {}

  /** Entries as this transaction sees them: read once, then kept here (null: absent). */
  private readonly cache = new Map<string, EntryTable | null>();
  /** Entry writes not yet sent to the database (null: delete). */
  private readonly dirty = new Map<string, EntryTable | null>();
  private journalRows: JournalTable[] = [];
  private readonly contentSizes = new Map<string, number | null>();

  /** Reads the current entries of `paths` and their ancestors in a few queries. */
  async preload(rawPaths: readonly string[]): Promise<void> {
    const wanted = new Set<string>();
    for (const raw of rawPaths) {
      const check = checkPath(raw);
      if (!check.ok) continue;
      wanted.add(check.path);
      for (const ancestor of ancestorsOf(check.path)) wanted.add(ancestor);
    }
    const paths = [...wanted].filter((p) => !this.cache.has(p));
    for (let i = 0; i < paths.length; i += 500) {
      const slice = paths.slice(i, i + 500);
      const rows = await this.trx
        .selectFrom('entries')
        .selectAll()
        .where('workspace_id', '=', this.workspaceId)
        .where('path', 'in', slice)
        .execute();
      for (const path of slice) this.cache.set(path, null);
      for (const row of rows) this.cache.set(row.path, row);
    }
  }

  /** Sends the pending journal rows and entry writes, in bulk. */
  async flush(): Promise<void> {
    for (let i = 0; i < this.journalRows.length; i += 200) {
      await this.trx
        .insertInto('journal')
        .values(this.journalRows.slice(i, i + 200))
        .execute();
    }
    this.journalRows = [];
    const writes = [...this.dirty];
    this.dirty.clear();
    for (let i = 0; i < writes.length; i += 500) {
      const slice = writes.slice(i, i + 500);
      await this.trx
        .deleteFrom('entries')
        .where('workspace_id', '=', this.workspaceId)
        .where(
          'path',
          'in',
          slice.map(([path]) => path),
        )
        .execute();
      const rows = slice.flatMap(([, row]) => (row ? [row] : []));
      for (let j = 0; j < rows.length; j += 200) {
        await this.trx
          .insertInto('entries')
          .values(rows.slice(j, j + 200))
          .execute();
      }
    }
  }

  private setEntry(path: string, row: EntryTable | null): void {
    this.cache.set(path, row);
    this.dirty.set(path, row);
  }

  async apply(op: WireOp, knownContent: ReadonlyMap<string, number>): Promise<OpResult> {
    switch (op.op) {
      case 'put':
        return this.putChecked(op.path, op.base, op.entry, knownContent);
      case 'delete':
        return this.delete(op.path, op.base);
      case 'move':
        return this.move(op.from, op.to, op.base);
    }
  }

  /**
   * A put as a device sent it: its entry passes the rules the agent applies to what the hub
   * sends (`checkEntry`, beyond the schema: a file's executable bit agrees with its mode). An
   * entry without a mode (from the release before modes) is given one in `put`.
   */
  private async putChecked(
    rawPath: string,
    base: number,
    raw: unknown,
    knownContent: ReadonlyMap<string, number>,
  ): Promise<OpResult> {
    const check = checkEntry(raw);
    if (!check.ok)
      return fail('invalid', `invalid entry for ${JSON.stringify(rawPath)}: ${check.reason}`);
    return this.put(rawPath, base, check.entry, knownContent);
  }

  /**
   * Puts `sent` at a path whose seq is `base`. An entry without a mode (from a device of the
   * release before modes) keeps the mode the path has (see `inheritMode`): an edit there
   * never widens a private file.
   */
  private async put(
    rawPath: string,
    base: number,
    sent: Entry,
    knownContent: ReadonlyMap<string, number>,
  ): Promise<OpResult> {
    const check = checkPath(rawPath);
    if (!check.ok)
      return fail('invalid', `invalid path ${JSON.stringify(rawPath)}: ${check.reason}`);
    const path = check.path;
    const current = await this.entry(path);
    if ((current ? Number(current.seq) : 0) !== base) return conflict(path, current);
    const entry = inheritMode(sent, current ? columnsToEntry(current) : undefined);
    if (entry.kind === 'file') {
      const size = knownContent.get(entry.contentId) ?? (await this.contentSize(entry.contentId));
      if (size === undefined)
        return fail(
          'missing-content',
          `content ${entry.contentId} is not in this workspace: upload its chunks and manifest first`,
        );
      if (size !== entry.size)
        return fail('invalid', `${path} says ${entry.size} bytes, but its content has ${size}`);
    }
    if (current?.kind === 'dir' && entry.kind !== 'dir' && (await this.hasChildren(path))) {
      return fail('not-empty', `${path} is a folder that is not empty`, current);
    }
    const parents = await this.ensureParents(path);
    if (parents) return parents;
    const seq = ++this.head;
    const node = current ? Number(current.node) : seq;
    this.journal({ seq, op: 'put', path, from: null, entry, node, base });
    this.setEntry(path, {
      workspace_id: this.workspaceId,
      path,
      seq,
      node,
      ...entryToColumns(entry),
    });
    return { ok: true, seq, node };
  }

  private async delete(rawPath: string, base: number): Promise<OpResult> {
    const check = checkPath(rawPath);
    if (!check.ok)
      return fail('invalid', `invalid path ${JSON.stringify(rawPath)}: ${check.reason}`);
    const path = check.path;
    const current = await this.entry(path);
    if (!current || Number(current.seq) !== base) return conflict(path, current);
    if (current.kind === 'dir' && (await this.hasChildren(path))) {
      return fail('not-empty', `${path} is a folder that is not empty on the hub`, current);
    }
    const seq = ++this.head;
    const node = Number(current.node);
    this.journal({ seq, op: 'delete', path, from: null, entry: undefined, node, base });
    this.setEntry(path, null);
    return { ok: true, seq, node };
  }

  private async move(rawFrom: string, rawTo: string, base: number): Promise<OpResult> {
    const from = checkPath(rawFrom);
    if (!from.ok) return fail('invalid', `invalid path ${JSON.stringify(rawFrom)}: ${from.reason}`);
    const to = checkPath(rawTo);
    if (!to.ok) return fail('invalid', `invalid path ${JSON.stringify(rawTo)}: ${to.reason}`);
    if (isSameOrInside(to.path, from.path))
      return fail('invalid', `cannot move ${from.path} into itself`);
    const current = await this.entry(from.path);
    if (!current || Number(current.seq) !== base) return conflict(from.path, current);
    const occupant = await this.entry(to.path);
    if (occupant) return conflict(to.path, occupant);
    const parents = await this.ensureParents(to.path);
    if (parents) return parents;
    const seq = ++this.head;
    const node = Number(current.node);
    const entry = toRemoteRecord(current).entry;
    this.journal({ seq, op: 'move', path: to.path, from: from.path, entry, node, base });
    // Re-key the subtree in the database: children keep their seq and node, the moved root
    // gets the new seq. Pending writes go first, and the cache forgets both subtrees.
    await this.flush();
    const { lower, upper } = insideRange(from.path);
    const children = await this.trx
      .selectFrom('entries')
      .selectAll()
      .where('workspace_id', '=', this.workspaceId)
      .where('path', '>', lower)
      .where('path', '<', upper)
      .execute();
    await this.trx
      .deleteFrom('entries')
      .where('workspace_id', '=', this.workspaceId)
      .where((eb) =>
        eb.or([
          eb('path', '=', from.path),
          eb.and([eb('path', '>', lower), eb('path', '<', upper)]),
        ]),
      )
      .execute();
    const moved: EntryTable[] = [
      { ...current, path: to.path, seq },
      ...children.map((c) => ({ ...c, path: to.path + c.path.slice(from.path.length) })),
    ];
    for (let i = 0; i < moved.length; i += 200) {
      await this.trx
        .insertInto('entries')
        .values(moved.slice(i, i + 200))
        .execute();
    }
    for (const path of [...this.cache.keys()]) {
      if (isSameOrInside(path, from.path) || isSameOrInside(path, to.path)) this.cache.delete(path);
    }
    return { ok: true, seq, node };
  }

  /**
   * Makes sure every ancestor of `path` is a folder, creating missing ones (so a file added
   * inside a folder someone else deleted survives: modification wins). Returns a failure
   * when an ancestor is a file or a link.
   */
  private async ensureParents(path: string): Promise<OpResult | undefined> {
    for (const ancestor of ancestorsOf(path)) {
      const current = await this.entry(ancestor);
      if (current?.kind === 'dir') continue;
      if (current) return fail('parent-not-dir', `${ancestor} is not a folder on the hub`, current);
      const entry: Entry = { kind: 'dir', mode: await this.formerFolderMode(ancestor) };
      const seq = ++this.head;
      this.journal({ seq, op: 'put', path: ancestor, from: null, entry, node: seq, base: 0 });
      this.setEntry(ancestor, {
        workspace_id: this.workspaceId,
        path: ancestor,
        seq,
        node: seq,
        ...entryToColumns(entry),
      });
    }
    return undefined;
  }

  /**
   * The mode a folder the hub creates for a put below it is given: the one it had when it
   * was last a folder here (it comes back as it was, so a device that kept it does not see
   * its mode change), else IMPLIED_DIR_MODE.
   */
  private async formerFolderMode(path: string): Promise<number> {
    await this.flush();
    const last = await this.trx
      .selectFrom('journal')
      .select(['kind', 'content_id', 'size', 'executable', 'mtime', 'target', 'mode'])
      .where('workspace_id', '=', this.workspaceId)
      .where('path', '=', path)
      .where('kind', 'is not', null)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const entry = last && columnsToEntry(last);
    return entry?.kind === 'dir' ? entry.mode : IMPLIED_DIR_MODE;
  }

  private async entry(path: string): Promise<EntryTable | undefined> {
    const cached = this.cache.get(path);
    if (cached !== undefined) return cached ?? undefined;
    const row = await this.trx
      .selectFrom('entries')
      .selectAll()
      .where('workspace_id', '=', this.workspaceId)
      .where('path', '=', path)
      .executeTakeFirst();
    this.cache.set(path, row ?? null);
    return row;
  }

  private async hasChildren(path: string): Promise<boolean> {
    await this.flush();
    const { lower, upper } = insideRange(path);
    const child = await this.trx
      .selectFrom('entries')
      .select('path')
      .where('workspace_id', '=', this.workspaceId)
      .where('path', '>', lower)
      .where('path', '<', upper)
      .limit(1)
      .executeTakeFirst();
    return child !== undefined;
  }

  /**
   * The size of a content already used in this workspace, which may be referenced again
   * without a manifest; undefined for a content it has not used.
   */
  private async contentSize(contentId: ContentId): Promise<number | undefined> {
    let known = this.contentSizes.get(contentId);
    if (known === undefined) {
      await this.flush();
      const used = await this.trx
        .selectFrom('journal')
        .select('size')
        .where('workspace_id', '=', this.workspaceId)
        .where('content_id', '=', contentId)
        .limit(1)
        .executeTakeFirst();
      known = used ? Number(used.size) : null;
      this.contentSizes.set(contentId, known);
    }
    return known ?? undefined;
  }

  private journal(row: {
    seq: number;
    op: 'put' | 'delete' | 'move';
    path: string;
    from: string | null;
    entry: Entry | undefined;
    node: number;
    base: number;
  }): void {
    this.journalRows.push({
      workspace_id: this.workspaceId,
      seq: row.seq,
      op: row.op,
      path: row.path,
      from_path: row.from,
      node: row.node,
      base: row.base,
      device_id: this.caller.deviceId,
      user_id: this.caller.userId,
      time: this.ctx.now(),
      ...entryToColumns(row.entry),
    });
    if (row.entry?.kind === 'file') this.contentSizes.set(row.entry.contentId, row.entry.size);
  }
}

function fail(reason: CommitFailure, message: string, current?: EntryTable): OpResult {
  return current
    ? { ok: false, reason, message, current: toRemoteRecord(current) }
    : { ok: false, reason, message };
}

function conflict(path: string, current: EntryTable | undefined): OpResult {
  const message = current
    ? `${path} changed on the hub (now at seq ${Number(current.seq)})`
    : `${path} no longer exists on the hub`;
  return fail('conflict', message, current);
}

export type { RemoteRecord };

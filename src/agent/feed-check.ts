/**
 * What the agent accepts from the hub's change feed. A hub that is broken or compromised can
 * send anything, so every path, entry, seq and node passes the rules the hub itself applies
 * to what devices commit (`checkPath`, `checkEntry`) before it reaches the remote tree. Pure,
 * and cheap: a few comparisons, one path check and one entry check per row.
 *
 * Two levels. A page whose rows cannot be put in order (no valid, increasing seqs up to its
 * head) cannot be applied at all: the round fails and is retried later, and nothing moves.
 * A row that is in order but names an invalid path or entry is passed over: the cursor moves
 * past it, and the paths it names are left as they were and held (see StateStore).
 */
import { checkEntry, describeValue } from '../core/entry-check.js';
import type { Entry } from '../core/entry.js';
import { checkPath, isSameOrInside } from '../core/paths.js';
import type { ChangesResponse, JournalRow } from '../protocol/api.js';

/** True for a seq or a node id: a positive safe integer. */
export function isSeq(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/**
 * Checks a page of the feed as a whole (asked for with `since` = `cursor`): its head is a
 * seq (or 0), and its rows, if any, have seqs that increase from past `cursor` up to the
 * head; a page that says more follow holds at least one row. Returns what is wrong, or
 * undefined. Snapshot records are checked one by one (`checkRecord`).
 */
export function checkPage(page: unknown, cursor: number): string | undefined {
  const p = page as Partial<Record<keyof ChangesResponse, unknown>> | null;
  if (typeof p !== 'object' || p === null) return 'its answer is not an object';
  const head = p.head;
  if (!Number.isSafeInteger(head) || (head as number) < 0)
    return `its head ${describeValue(head)} is not a seq`;
  if (typeof p.more !== 'boolean') return 'it does not say whether more rows follow';
  if (p.snapshot !== undefined) {
    return Array.isArray(p.snapshot) ? undefined : 'its snapshot is not a list';
  }
  if (p.rows === undefined) return p.more ? 'it said more rows follow but sent none' : undefined;
  if (!Array.isArray(p.rows)) return 'its rows are not a list';
  let last = cursor;
  for (const row of p.rows as unknown[]) {
    const seq = typeof row === 'object' && row !== null ? (row as { seq?: unknown }).seq : row;
    if (!isSeq(seq)) return `a row after seq ${last} has no valid seq (${describeValue(seq)})`;
    if (seq <= last) return `its rows go back from seq ${last} to ${seq}`;
    if (seq > (head as number)) return `its row ${seq} is past its head ${head as number}`;
    last = seq;
  }
  if (p.more && p.rows.length === 0) return 'it said more rows follow but sent none';
  return undefined;
}

/** Why a row or record was passed over, and the paths it names. */
export interface FeedRefusal {
  readonly reason: string;
  /** The paths it names: valid ones as they are, invalid ones as `labelOf` shows them. */
  readonly labels: readonly string[];
  /** The valid paths it names: left as they were, and held until the hub sends a valid change. */
  readonly held: readonly string[];
}

type Tree = ReadonlyMap<string, { readonly entry: Entry }>;

/**
 * Checks one row of a page that passed `checkPage`, against the remote tree as the rows
 * before it left it: a known op; a path (and for a move, a source) that is valid and already
 * in normal form; a move not into itself; a node id; an entry for a put (and a valid one if a
 * move carries it); and no file or link above where a put or move lands. Returns undefined
 * for a row that may be applied.
 */
export function checkRow(row: JournalRow, remote: Tree): FeedRefusal | undefined {
  const r = row as unknown as Record<string, unknown>;
  const path = wirePath(r.path);
  const from = r.op === 'move' ? wirePath(r.from) : undefined;
  const reason = rowReason(r, path, from, remote);
  if (reason === undefined) return undefined;
  const labels = [path.ok ? path.path : labelOf(r.path, row.seq)];
  const held = path.ok ? [path.path] : [];
  if (from) {
    labels.push(from.ok ? from.path : labelOf(r.from, row.seq));
    if (from.ok) held.push(from.path);
  }
  return { reason, labels, held };
}

function rowReason(
  r: Record<string, unknown>,
  path: WirePath,
  from: WirePath | undefined,
  remote: Tree,
): string | undefined {
  const op = r.op;
  if (op !== 'put' && op !== 'delete' && op !== 'move')
    return `its operation ${describeValue(op)} is not put, delete or move`;
  if (!path.ok) return path.reason;
  if (from && !from.ok) return `its source: ${from.reason}`;
  if (op === 'delete') return undefined; // (a delete's entry and node are not used)
  if (from?.ok && isSameOrInside(path.path, from.path)) return `it moves ${from.path} into itself`;
  if (!isSeq(r.node)) return `its node ${describeValue(r.node)} is not a node id`;
  if (op === 'put' || r.entry !== undefined) {
    const entry = checkEntry(r.entry);
    if (!entry.ok) return entry.reason;
  }
  return notAFolderAbove(path.path, remote);
}

/**
 * Checks one record of a snapshot: a valid path in normal form, seq and node ids and a valid
 * entry. (What lies above it is checked once the whole snapshot is in: `notAFolderAbove`.)
 */
export function checkRecord(record: unknown, index: number): FeedRefusal | undefined {
  const r = (typeof record === 'object' && record !== null ? record : {}) as Record<
    string,
    unknown
  >;
  const path = wirePath(r.path);
  const refuse = (reason: string): FeedRefusal => ({
    reason,
    labels: [
      path.ok
        ? path.path
        : typeof r.path === 'string'
          ? labelOf(r.path, 0)
          : `(snapshot record ${index + 1})`,
    ],
    held: path.ok ? [path.path] : [],
  });
  if (!path.ok) return refuse(path.reason);
  if (!isSeq(r.seq)) return refuse(`its seq ${describeValue(r.seq)} is not a seq`);
  if (!isSeq(r.node)) return refuse(`its node ${describeValue(r.node)} is not a node id`);
  const entry = checkEntry(r.entry);
  return entry.ok ? undefined : refuse(entry.reason);
}

/**
 * Why nothing may land at `path`: the nearest of its folders that `tree` holds is a file or a
 * link (the hub refuses such a commit; a device that followed it would write through a link).
 * Undefined when that folder is a folder, or none is known.
 */
export function notAFolderAbove(path: string, tree: Tree): string | undefined {
  for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
    const ancestor = path.slice(0, at);
    const node = tree.get(ancestor);
    if (node === undefined) continue;
    if (node.entry.kind === 'dir') return undefined;
    return `${ancestor} above it is a ${node.entry.kind === 'symlink' ? 'link' : 'file'} on the hub, not a folder`;
  }
  return undefined;
}

type WirePath = { ok: true; path: string } | { ok: false; reason: string };

/** A path from the hub: valid, and exactly in the normal form the hub stores. */
function wirePath(raw: unknown): WirePath {
  const check = checkPath(raw);
  if (!check.ok) return check;
  if (check.path !== raw) return { ok: false, reason: 'a path must be in Unicode normal form C' };
  return check;
}

// C0 and C1 controls, DEL, and unpaired surrogates: what a terminal must not be sent raw.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;
const MAX_LABEL = 200;

/**
 * A path the hub sent, as a person can read it in a log or `tandem status`: as it is when it
 * is printable and short, else quoted with its control characters escaped, and shortened.
 */
export function labelOf(raw: unknown, seq: number): string {
  if (typeof raw !== 'string') return seq > 0 ? `(row ${seq}: no path)` : '(no path)';
  if (raw.length > 0 && raw.length <= MAX_LABEL && !UNPRINTABLE.test(raw)) return raw;
  return JSON.stringify(raw.length > MAX_LABEL ? `${raw.slice(0, MAX_LABEL)}...` : raw);
}

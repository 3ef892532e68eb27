/** Conversions between database rows and wire entries. */
import type { Entry } from '../../core/entry.js';
import type { ContentId } from '../../core/ids.js';
import type { JournalRow, OpKind, RemoteRecord } from '../../protocol/api.js';
import type { EntryColumns, EntryTable, JournalTable } from '../db/schema.js';

export function entryToColumns(entry: Entry | undefined): EntryColumns {
  if (!entry)
    return {
      kind: null,
      content_id: null,
      size: null,
      executable: null,
      mtime: null,
      target: null,
    };
  switch (entry.kind) {
    case 'file':
      return {
        kind: 'file',
        content_id: entry.contentId,
        size: entry.size,
        executable: entry.executable ? 1 : 0,
        mtime: entry.mtime,
        target: null,
      };
    case 'dir':
      return {
        kind: 'dir',
        content_id: null,
        size: null,
        executable: null,
        mtime: null,
        target: null,
      };
    case 'symlink':
      return {
        kind: 'symlink',
        content_id: null,
        size: null,
        executable: null,
        mtime: null,
        target: entry.target,
      };
  }
}

export function columnsToEntry(row: EntryColumns): Entry | undefined {
  switch (row.kind) {
    case 'file':
      return {
        kind: 'file',
        contentId: row.content_id as ContentId,
        size: Number(row.size),
        executable: Number(row.executable) === 1,
        mtime: Number(row.mtime),
      };
    case 'dir':
      return { kind: 'dir' };
    case 'symlink':
      return { kind: 'symlink', target: row.target ?? '' };
    default:
      return undefined;
  }
}

export function toRemoteRecord(row: EntryTable): RemoteRecord {
  return {
    path: row.path,
    seq: Number(row.seq),
    node: Number(row.node),
    entry: columnsToEntry(row)!,
  };
}

export function toJournalRow(row: JournalTable): JournalRow {
  const entry = columnsToEntry(row);
  return {
    seq: Number(row.seq),
    op: row.op as OpKind,
    path: row.path,
    ...(row.from_path !== null ? { from: row.from_path } : {}),
    ...(entry ? { entry } : {}),
    node: Number(row.node),
    base: Number(row.base),
    device: row.device_id,
    user: row.user_id,
    time: Number(row.time),
  };
}

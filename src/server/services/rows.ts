/** Conversions between database rows and wire entries. */
import {
  isExecutableMode,
  LEGACY_DIR_MODE,
  LEGACY_EXECUTABLE_MODE,
  LEGACY_FILE_MODE,
  withoutMode,
  type Entry,
} from '../../core/entry.js';
import type { ContentId } from '../../core/ids.js';
import type { ChangesResponse, JournalRow, OpKind, RemoteRecord } from '../../protocol/api.js';
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
      mode: null,
    };
  switch (entry.kind) {
    case 'file':
      return {
        kind: 'file',
        content_id: entry.contentId,
        size: entry.size,
        executable: isExecutableMode(entry.mode) ? 1 : 0,
        mtime: entry.mtime,
        target: null,
        mode: entry.mode,
      };
    case 'dir':
      return {
        kind: 'dir',
        content_id: null,
        size: null,
        executable: null,
        mtime: null,
        target: null,
        mode: entry.mode,
      };
    case 'symlink':
      return {
        kind: 'symlink',
        content_id: null,
        size: null,
        executable: null,
        mtime: null,
        target: entry.target,
        mode: null,
      };
  }
}

/**
 * The entry a row holds. A row written before modes (`mode` null) has the mode its release
 * wrote on disk: 0o755 or 0o644 for a file by its executable bit, 0o755 for a folder.
 */
export function columnsToEntry(row: EntryColumns): Entry | undefined {
  switch (row.kind) {
    case 'file': {
      const mode =
        row.mode !== null
          ? Number(row.mode)
          : Number(row.executable) === 1
            ? LEGACY_EXECUTABLE_MODE
            : LEGACY_FILE_MODE;
      return {
        kind: 'file',
        contentId: row.content_id as ContentId,
        size: Number(row.size),
        executable: isExecutableMode(mode),
        mode,
        mtime: Number(row.mtime),
      };
    }
    case 'dir':
      return { kind: 'dir', mode: row.mode !== null ? Number(row.mode) : LEGACY_DIR_MODE };
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

/**
 * A page of the change feed as a device of the release before modes reads it: every entry
 * without its mode (that release's checks refuse a field they do not know). Its files keep
 * their executable bits, which is all that release applies.
 */
export function withoutModes(page: ChangesResponse): ChangesResponse {
  const out: { -readonly [K in keyof ChangesResponse]: ChangesResponse[K] } = { ...page };
  if (page.snapshot)
    out.snapshot = page.snapshot.map((record) => ({
      ...record,
      entry: withoutMode(record.entry),
    }));
  if (page.rows)
    out.rows = page.rows.map((row) =>
      row.entry ? { ...row, entry: withoutMode(row.entry) } : row,
    );
  return out;
}

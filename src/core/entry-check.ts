/**
 * The rules every entry keeps, wherever it comes from: what a device commits (the hub) and
 * what the hub sends (the agent) pass the same function. Pure, never throws, and cheap
 * enough to run once per change-feed row: no allocation for a valid entry beyond the result.
 */
import {
  MAX_FILE_BYTES,
  MAX_LINK_TARGET_BYTES,
  MAX_MTIME_MS,
  MIN_MTIME_MS,
  MODE_BITS,
  isExecutableMode,
  type Entry,
} from './entry.js';

export type EntryCheck =
  { readonly ok: true; readonly entry: Entry } | { readonly ok: false; readonly reason: string };

const HEX_64 = /^[0-9a-f]{64}$/;
const NON_ASCII = /[^\x20-\x7e]/;
/** An unpaired surrogate: not a character, and not encodable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * The fields of each kind of entry, not counting `mode` (which files and folders may have):
 * anything else is refused, as the hub's schema does.
 */
const FIELDS = { file: 5, dir: 1, symlink: 2 } as const;
const KNOWN = {
  file: ['kind', 'contentId', 'size', 'executable', 'mtime', 'mode'],
  dir: ['kind', 'mode'],
  symlink: ['kind', 'target'],
} as const;

/**
 * Checks that `value` is an entry Tandem can hold and apply: `kind` is file, dir or symlink
 * with exactly that kind's fields; a file has a content id of 64 lowercase hex digits, a size
 * that is a safe integer from 0 to MAX_FILE_BYTES, a boolean executable bit and an mtime in
 * whole milliseconds from MIN_MTIME_MS to MAX_MTIME_MS; a link has a non-empty target without
 * NUL or unpaired surrogates, at most MAX_LINK_TARGET_BYTES bytes of UTF-8. A file or folder
 * may have a mode: an integer from 0 to 0o777 (no setuid, setgid or sticky bit), and for a
 * file the executable bit must say what the mode says. Without one (the release before
 * modes), `withMode` gives it the mode that release wrote. Returns the entry (the same
 * object), or a reason a person can act on.
 */
export function checkEntry(value: unknown): EntryCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return refuse(`an entry must be an object (it is ${describeValue(value)})`);
  const e = value as Record<string, unknown>;
  const kind = e.kind;
  if (kind !== 'file' && kind !== 'dir' && kind !== 'symlink')
    return refuse(
      `an entry's kind must be "file", "dir" or "symlink" (it is ${describeValue(kind)})`,
    );
  const mode = e.mode;
  const hasMode = mode !== undefined && Object.hasOwn(e, 'mode');
  if (hasMode) {
    if (kind === 'symlink') return refuse('a link has no mode');
    if (!Number.isInteger(mode) || (mode as number) < 0 || (mode as number) > MODE_BITS)
      return refuse(
        `a ${kind === 'dir' ? "folder's" : "file's"} mode must be a whole number from 0 to 0o777 (it is ${describeMode(mode)})`,
      );
  }
  if (kind === 'file') {
    const { contentId, size, executable, mtime } = e;
    if (typeof contentId !== 'string' || !HEX_64.test(contentId))
      return refuse(
        `a file's content id must be 64 lowercase hex digits (it is ${describeValue(contentId)})`,
      );
    if (!Number.isSafeInteger(size) || (size as number) < 0 || (size as number) > MAX_FILE_BYTES)
      return refuse(
        `a file's size must be a whole number of bytes, 0 or more (it is ${describeValue(size)})`,
      );
    if (typeof executable !== 'boolean')
      return refuse(
        `a file's executable bit must be true or false (it is ${describeValue(executable)})`,
      );
    if (hasMode && executable !== isExecutableMode(mode as number))
      return refuse(
        `a file's executable bit (${String(executable)}) must agree with its mode (${describeMode(mode)})`,
      );
    if (
      !Number.isInteger(mtime) ||
      (mtime as number) < MIN_MTIME_MS ||
      (mtime as number) > MAX_MTIME_MS
    )
      return refuse(
        `a file's modification time must be whole milliseconds from 1970 to 2200 (it is ${describeValue(mtime)})`,
      );
  } else if (kind === 'symlink') {
    const target = e.target;
    if (typeof target !== 'string' || target.length === 0)
      return refuse(`a link's target must be a non-empty string (it is ${describeValue(target)})`);
    if (target.includes('\u0000')) return refuse("a link's target must not contain NUL");
    if (NON_ASCII.test(target) && LONE_SURROGATE.test(target))
      return refuse("a link's target must be valid Unicode (it has an unpaired surrogate)");
    if (target.length * 3 > MAX_LINK_TARGET_BYTES && utf8Length(target) > MAX_LINK_TARGET_BYTES)
      return refuse(`a link's target must be at most ${MAX_LINK_TARGET_BYTES} bytes`);
  }
  let fields = hasMode ? -1 : 0;
  for (const key in e) if (Object.hasOwn(e, key)) fields++;
  if (fields !== FIELDS[kind]) {
    const known: readonly string[] = KNOWN[kind];
    const extra = Object.keys(e).find((key) => !known.includes(key));
    return refuse(
      extra === undefined
        ? `a ${kind} entry has ${fields} fields, not ${FIELDS[kind]}`
        : `a ${kind} entry has no field ${describeValue(extra)}`,
    );
  }
  return { ok: true, entry: value as Entry };
}

/** A mode as people write it (0o600), or the value as `describeValue` shows it. */
function describeMode(mode: unknown): string {
  return Number.isInteger(mode) && (mode as number) >= 0
    ? `0o${(mode as number).toString(8)}`
    : describeValue(mode);
}

function refuse(reason: string): EntryCheck {
  return { ok: false, reason };
}

/** A value as a person can read it in a message: short, quoted, control characters escaped. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** UTF-8 length of a string without unpaired surrogates, without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4; // a surrogate pair: one character of four bytes
      i++;
    } else bytes += 3;
  }
  return bytes;
}

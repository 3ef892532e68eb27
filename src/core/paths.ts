/**
 * Path rules shared by hub, agent and web. A workspace path is relative, `/`-separated,
 * NFC-normalized, has no empty, `.` or `..` segment, no `.tandem` segment (an agent's own
 * state, at any depth), no NUL or control character, no unpaired UTF-16 surrogate, and no
 * segment longer than 255 bytes of UTF-8. The root itself is never a path.
 *
 * Every other character is an ordinary part of a name, as it is on Linux and macOS: `\`,
 * `:` (`c:notes.txt` is a file name, not a drive), `*?"<>|`, a trailing dot or space and
 * Windows' reserved names (`CON`, `nul.txt`) all sync. A device whose disk cannot hold such
 * a name (a Windows agent, one day) must report it as not synced there, never drop it or
 * read `\` as a separator (see docs/decisions.md, "Names").
 */
import { STATE_DIR } from './ignore.js';

export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

export type PathCheck =
  { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

// C0 controls, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const ASCII = /^[\x20-\x7e]*$/;
/** An unpaired surrogate: not a character, and not encodable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;

const encoder = new TextEncoder();

/**
 * Validates and normalizes a wire path. Returns the NFC form on success, or a reason a
 * person can act on. Never throws.
 */
export function checkPath(raw: unknown): PathCheck {
  if (typeof raw !== 'string') return { ok: false, reason: 'a path must be a string' };
  if (raw.length === 0) return { ok: false, reason: 'a path must not be empty' };
  if (CONTROL.test(raw))
    return { ok: false, reason: 'a path must not contain NUL or control characters' };
  if (raw.startsWith('/')) return { ok: false, reason: 'a path must be relative (no leading "/")' };
  const ascii = ASCII.test(raw);
  if (!ascii && LONE_SURROGATE.test(raw))
    return { ok: false, reason: 'a path must be valid Unicode (it has an unpaired surrogate)' };
  // (Scans check every path: ASCII needs no normalizing, and a string of n UTF-16 units
  // holds at most 3n bytes of UTF-8, so short ones need no encoding to be measured.)
  const path = ascii ? raw : raw.normalize('NFC');
  if (path.length * 3 > MAX_PATH_BYTES && encoder.encode(path).length > MAX_PATH_BYTES) {
    return { ok: false, reason: `a path must be at most ${MAX_PATH_BYTES} bytes` };
  }
  for (const segment of path.split('/')) {
    if (segment === '')
      return { ok: false, reason: 'a path must not have empty segments ("//" or a trailing "/")' };
    if (segment === '.' || segment === '..')
      return { ok: false, reason: 'a path must not contain "." or ".." segments' };
    // (In any case: on a disk that ignores case, `.TANDEM` is the agent's own state.)
    if (segment.length === STATE_DIR.length && segment.toLowerCase() === STATE_DIR)
      return { ok: false, reason: 'a path must not contain a ".tandem" folder (agent state)' };
    if (
      segment.length * 3 > MAX_SEGMENT_BYTES &&
      encoder.encode(segment).length > MAX_SEGMENT_BYTES
    ) {
      return { ok: false, reason: `each path segment must be at most ${MAX_SEGMENT_BYTES} bytes` };
    }
  }
  return { ok: true, path };
}

/** Returns the normalized path, or throws a TypeError: for callers that already validated. */
export function normalizePath(raw: string): string {
  const check = checkPath(raw);
  if (!check.ok) throw new TypeError(`invalid path ${JSON.stringify(raw)}: ${check.reason}`);
  return check.path;
}

/** The parent of a path, or `''` for a top-level name. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The last segment of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Joins a parent (possibly `''`, the root) and a name. */
export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** True when `path` is `ancestor` itself or lies inside it. */
export function isSameOrInside(path: string, ancestor: string): boolean {
  return (
    path === ancestor ||
    (path.length > ancestor.length && path.startsWith(ancestor) && path[ancestor.length] === '/')
  );
}

/** True when `path` lies strictly inside `ancestor`. */
export function isInside(path: string, ancestor: string): boolean {
  return (
    path.length > ancestor.length && path.startsWith(ancestor) && path[ancestor.length] === '/'
  );
}

/** Rewrites `path` (which is `from` or inside it) to the same place under `to`. */
export function rebase(path: string, from: string, to: string): string {
  return path === from ? to : to + path.slice(from.length);
}

/** Every proper ancestor of a path, outermost first: `a/b/c` -> `a`, `a/b`. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  let slash = path.indexOf('/');
  while (slash >= 0) {
    out.push(path.slice(0, slash));
    slash = path.indexOf('/', slash + 1);
  }
  return out;
}

/** Depth of a path: `a` is 1, `a/b` is 2. */
export function depthOf(path: string): number {
  let depth = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) depth++;
  return depth;
}

/**
 * Orders paths by their UTF-8 bytes, the order SQLite's BINARY collation and PostgreSQL's
 * "C" collation use, so that a parent always sorts before its children. Compares UTF-16
 * code units without allocating; they agree with UTF-8 order except that a surrogate (a
 * character above U+FFFF) sorts after U+E000..U+FFFF, which is handled at the first difference.
 */
export function comparePaths(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const surrogateA = ca >= 0xd800 && ca <= 0xdfff;
    const surrogateB = cb >= 0xd800 && cb <= 0xdfff;
    if (surrogateA === surrogateB) return ca - cb;
    if (surrogateA) return cb >= 0xe000 ? 1 : ca - cb;
    return ca >= 0xe000 ? -1 : ca - cb;
  }
  return a.length - b.length;
}

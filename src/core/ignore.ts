/**
 * What Tandem never syncs: its own state folder, temporary and lock files of common editors
 * and operating systems, and whatever `DIR/.tandemignore` (gitignore syntax) adds.
 */
import ignore from 'ignore';

/** The agent's own folder inside every synced directory. */
export const STATE_DIR = '.tandem';
export const IGNORE_FILE = '.tandemignore';

/** Default patterns (gitignore syntax). Each names something nobody wants on another device. */
export const DEFAULT_IGNORES: readonly string[] = [
  `/${STATE_DIR}`,
  // Editors
  '*.swp',
  '*.swo',
  '*.swx',
  '.*.sw?',
  '*~',
  '.#*',
  '\\#*#', // (escaped: a line starting with # is a comment)
  '*.tmp',
  '.~lock.*#',
  '~$*',
  '.idea/workspace.xml',
  // Operating systems
  '.DS_Store',
  '._*',
  '.Spotlight-V100',
  '.Trashes',
  '.fseventsd',
  'Thumbs.db',
  'ehthumbs.db',
  'desktop.ini',
  '$RECYCLE.BIN/',
  '.directory',
  '.nfs*',
  '.fuse_hidden*',
  // Partial downloads of browsers and other sync tools
  '*.crdownload',
  '*.part',
  '.syncthing.*.tmp',
  '~*.tmp',
];

/** A predicate over workspace paths; `isDir` lets folder-only patterns (`build/`) match. */
export type IgnoreMatcher = (path: string, isDir?: boolean) => boolean;

/**
 * Builds the matcher from the defaults plus the text of `.tandemignore` (may be empty).
 * Invalid lines are skipped, as git does. Pure and safe to share.
 *
 * Every path of every scan is tested, so the defaults are one regular expression, not a
 * pass of the `ignore` package (several times slower, and it caches every path it saw).
 * `.tandemignore` still goes through `ignore`; with a negated line (`!keep.tmp`), which may
 * take back a default, everything does.
 */
export function makeIgnoreMatcher(tandemignore = ''): IgnoreMatcher {
  const lines = tandemignore.split(/\r?\n/).filter((line) => line.trim() && !line.startsWith('#'));
  if (lines.some((line) => line.startsWith('!'))) {
    const all = ignore({ allowRelativePaths: true })
      .add([...DEFAULT_IGNORES])
      .add(lines);
    return (path, isDir = false) => all.ignores(isDir ? `${path}/` : path);
  }
  const user = lines.length > 0 ? ignore({ allowRelativePaths: true }).add(lines) : undefined;
  return (path, isDir = false) =>
    isIgnoredByDefault(path, isDir) || (user?.ignores(isDir ? `${path}/` : path) ?? false);
}

/**
 * The defaults as tests of a whole path: names that match in any segment (the last one only
 * if it is a folder, for `name/` patterns), and paths anchored at the root. Matching is
 * case-insensitive, as in `ignore`.
 */
/** Characters a glob takes literally but a regular expression does not. */
const SPECIAL = /[.*+?^${}()|[\]\\/]/;
const DEFAULTS = compileDefaults(DEFAULT_IGNORES);

export function isIgnoredByDefault(path: string, isDir = false): boolean {
  return (
    DEFAULTS.anchored.test(path) ||
    DEFAULTS.names.test(path) ||
    DEFAULTS.dirNames.test(isDir ? `${path}/` : path)
  );
}

function compileDefaults(patterns: readonly string[]) {
  const anchored: string[] = [];
  const names: string[] = [];
  const dirNames: string[] = [];
  for (const pattern of patterns) {
    const dirOnly = pattern.endsWith('/');
    const body = dirOnly ? pattern.slice(0, -1) : pattern;
    if (body.includes('/')) {
      // Anchored (a slash before the end): only literal paths are supported here.
      if (dirOnly || /[*?[]/.test(body)) throw new Error(`unsupported default ${pattern}`);
      anchored.push(globToRegExp(body.replace(/^\//, '')));
    } else {
      if (/\[/.test(body)) throw new Error(`unsupported default ${pattern}`);
      (dirOnly ? dirNames : names).push(globToRegExp(body));
    }
  }
  return {
    anchored: new RegExp(`^(?:${anchored.join('|')})(?:/|$)`, 'i'),
    names: new RegExp(`(?:^|/)(?:${names.join('|')})(?:/|$)`, 'i'),
    dirNames: new RegExp(`(?:^|/)(?:${dirNames.join('|')})/`, 'i'),
  };
}

/** A glob of `*`, `?` (neither matches a slash) and `\\` escapes as a regular expression source. */
function globToRegExp(glob: string): string {
  return glob.replace(/\\(.)|(\*)|(\?)|(.)/g, (_, escaped, star, question, other) =>
    star ? '[^/]*' : question ? '[^/]' : ((escaped ?? other) as string).replace(SPECIAL, '\\$&'),
  );
}

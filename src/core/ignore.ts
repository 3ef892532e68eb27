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
  '#*#',
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
 */
export function makeIgnoreMatcher(tandemignore = ''): IgnoreMatcher {
  const matcher = ignore({ allowRelativePaths: true })
    .add([...DEFAULT_IGNORES])
    .add(tandemignore);
  const cache = new Map<string, boolean>();
  return (path, isDir = false) => {
    const key = isDir ? `${path}/` : path;
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = matcher.ignores(key);
      if (cache.size > 100_000) cache.clear();
      cache.set(key, hit);
    }
    return hit;
  };
}

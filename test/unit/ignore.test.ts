import fc from 'fast-check';
import ignore from 'ignore';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IGNORES, makeIgnoreMatcher } from '../../src/core/ignore.js';

/** What the `ignore` package (gitignore semantics) says, given every rule at once. */
function reference(tandemignore = '') {
  const all = ignore({ allowRelativePaths: true })
    .add([...DEFAULT_IGNORES])
    .add(tandemignore);
  return (path: string, isDir: boolean) => all.ignores(isDir ? `${path}/` : path);
}

// Names near every default pattern (and its edges), in mixed case, plus plain ones.
const NAMES = [
  'a',
  'notes.txt',
  'x.swp',
  '.swp',
  'X.SWO',
  'a.swx',
  '.a.swp',
  '.a.swz',
  '.swp.x',
  'foo~',
  '~',
  '.#foo',
  '#x#',
  '#x',
  'a.tmp',
  'A.TMP',
  'tmp',
  '.~lock.x#',
  '.~lock.x',
  '~$doc.docx',
  '~doc',
  '.idea',
  'workspace.xml',
  '.DS_Store',
  '.ds_store',
  'x.DS_Store',
  '._x',
  '_x',
  '.Spotlight-V100',
  '.Trashes',
  '.fseventsd',
  'Thumbs.db',
  'thumbs.DB',
  'ehthumbs.db',
  'desktop.ini',
  '$RECYCLE.BIN',
  '$recycle.bin',
  '.directory',
  '.nfs0001',
  '.nfs',
  'nfs1',
  '.fuse_hidden12',
  'a.crdownload',
  'a.part',
  'a.partial',
  '.syncthing.a.tmp',
  '~a.tmp',
  '.tandem',
  '.TANDEM',
  '.tandemignore',
  'build',
];
const paths = fc
  .array(fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-z.~#$_]{1,6}$/)), {
    minLength: 1,
    maxLength: 4,
  })
  .map((segments) => segments.join('/'));

describe('ignore matcher', () => {
  it('decides the defaults exactly as gitignore rules do', () => {
    const ours = makeIgnoreMatcher();
    const theirs = reference();
    fc.assert(
      fc.property(paths, fc.boolean(), (path, isDir) => {
        expect(ours(path, isDir), `${path}${isDir ? '/' : ''}`).toBe(theirs(path, isDir));
      }),
      { numRuns: 20_000 },
    );
    for (const name of NAMES)
      for (const path of [name, `d/${name}`, `${name}/x`, `.idea/${name}`])
        for (const isDir of [false, true])
          expect(ours(path, isDir), path).toBe(theirs(path, isDir));
  });

  it('adds the lines of .tandemignore, negations included', () => {
    for (const text of ['build/\n*.log\n', '# comment\n/docs/*.md\n\n', '!keep.tmp\n*.bak\n']) {
      const ours = makeIgnoreMatcher(text);
      const theirs = reference(text);
      fc.assert(
        fc.property(
          fc.oneof(
            paths,
            fc.constantFrom('keep.tmp', 'a.log', 'build/x', 'docs/a.md', 'x/docs/a.md'),
          ),
          fc.boolean(),
          (path, isDir) => {
            expect(ours(path, isDir), `${text}: ${path}`).toBe(theirs(path, isDir));
          },
        ),
        { numRuns: 3_000 },
      );
    }
    expect(makeIgnoreMatcher('!keep.tmp\n')('keep.tmp')).toBe(false);
    expect(makeIgnoreMatcher('build/\n')('build', true)).toBe(true);
    expect(makeIgnoreMatcher('build/\n')('build', false)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ancestorsOf,
  checkPath,
  comparePaths,
  isInside,
  isSameOrInside,
  rebase,
} from '../../src/core/paths.js';

describe('checkPath', () => {
  const rejected: [string, unknown, RegExp][] = [
    ['an absolute path', '/etc/passwd', /relative/],
    ['a parent segment', '../x', /"\.\."/],
    ['a parent segment in the middle', 'a/../../x', /"\.\."/],
    ['a dot segment', 'a/./b', /"\."/],
    ['a NUL byte', 'a\u0000b', /NUL/],
    ['a control character', 'a\nb', /control/],
    ['a DEL character', 'a\u007fb', /control/],
    ['an empty path', '', /empty/],
    ['an empty segment', 'a//b', /empty segments/],
    ['a trailing slash', 'a/', /empty segments/],
    ['a segment over 255 bytes', 'x'.repeat(256), /255 bytes/],
    ['a segment over 255 bytes in UTF-8 (128 two-byte chars)', 'é'.repeat(128), /255 bytes/],
    ['a non-string', 42, /string/],
    ['an unpaired surrogate', 'a\ud800b', /surrogate/],
    ['an unpaired low surrogate at the end', 'notes/x\udc00', /surrogate/],
    ['a .tandem folder at the top', '.tandem/state.db', /\.tandem/],
    ['a .tandem folder deeper down', 'inner/.tandem/lock', /\.tandem/],
    // A disk that ignores case would take it for the agent's own state.
    ['a .TANDEM folder', '.TANDEM/state.db', /\.tandem/],
    ['a .Tandem folder deeper down', 'inner/.Tandem/tmp/x', /\.tandem/],
  ];
  for (const [description, input, reason] of rejected) {
    it(`rejects ${description}`, () => {
      const check = checkPath(input);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.reason).toMatch(reason);
    });
  }

  it('accepts a segment of exactly 255 bytes', () => {
    expect(checkPath('x'.repeat(255)).ok).toBe(true);
  });

  it('normalizes to NFC', () => {
    const decomposed = 'cafe\u0301/re\u0301sume\u0301.txt';
    const check = checkPath(decomposed);
    expect(check).toEqual({ ok: true, path: 'caf\u00e9/r\u00e9sum\u00e9.txt' });
  });

  it('keeps names with spaces, dots and unicode', () => {
    for (const ok of [
      'a b/c.d.e',
      '.hidden',
      '...',
      'notes/日本語.md',
      'x/y/z',
      'a/😀.txt',
      '.tandemx',
      'x.tandem',
      // Legal on Linux and macOS, so they sync (a Windows agent would report them).
      'back\\slash.txt',
      'c:notes.txt',
      'C:/x',
      'what?*"<>|.txt',
      'trailing dot.',
      'trailing space ',
      'CON',
      'nul.txt',
    ])
      expect(checkPath(ok)).toEqual({ ok: true, path: ok });
  });
});

describe('path helpers', () => {
  it('tells inside from same prefix', () => {
    expect(isInside('a/b', 'a')).toBe(true);
    expect(isInside('ab', 'a')).toBe(false);
    expect(isInside('a', 'a')).toBe(false);
    expect(isSameOrInside('a', 'a')).toBe(true);
  });

  it('rebases a subtree', () => {
    expect(rebase('a/b/c', 'a/b', 'x')).toBe('x/c');
    expect(rebase('a/b', 'a/b', 'x/y')).toBe('x/y');
  });

  it('lists ancestors outermost first', () => {
    expect(ancestorsOf('a/b/c')).toEqual(['a', 'a/b']);
    expect(ancestorsOf('a')).toEqual([]);
  });

  it('sorts exactly as UTF-8 bytes do, astral characters included', () => {
    const samples = [
      'a',
      'a/b',
      'é',
      '\uffff',
      '\u{1f600}',
      '\ue000x',
      'z',
      '\u{10000}',
      'ab',
      'a\u{1f600}',
      'a\uffff',
    ];
    const byBytes = [...samples].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...samples].sort(comparePaths)).toEqual(byBytes);
  });

  it('sorts parents before children in byte order', () => {
    const sorted = ['a/b', 'a-c', 'a', 'b', 'a/a'].sort(comparePaths);
    expect(sorted.indexOf('a')).toBeLessThan(sorted.indexOf('a/b'));
    expect(sorted).toEqual(['a', 'a-c', 'a/a', 'a/b', 'b']);
  });
});

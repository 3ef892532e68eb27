import { describe, expect, it } from 'vitest';
import { conflictedCopyPath } from '../../src/core/conflict-name.js';

const time = new Date(Date.UTC(2026, 10, 21, 9, 5, 7));
const name = (path: string, extra: Partial<Parameters<typeof conflictedCopyPath>[1]> = {}) =>
  conflictedCopyPath(path, { time, device: 'laptop', ...extra });

describe('conflicted copy names (golden)', () => {
  const golden: [string, string, Partial<Parameters<typeof conflictedCopyPath>[1]>?][] = [
    ['report.docx', 'report (conflicted copy 2026-11-21 090507 from laptop).docx'],
    ['notes/plan.md', 'notes/plan (conflicted copy 2026-11-21 090507 from laptop).md'],
    ['archive.tar.gz', 'archive.tar (conflicted copy 2026-11-21 090507 from laptop).gz'],
    ['Makefile', 'Makefile (conflicted copy 2026-11-21 090507 from laptop)'],
    ['.bashrc', '.bashrc (conflicted copy 2026-11-21 090507 from laptop)'],
    ['trailing.', 'trailing. (conflicted copy 2026-11-21 090507 from laptop)'],
    ['photos.2026', 'photos (conflicted copy 2026-11-21 090507 from laptop).2026'],
    ['src.v2', 'src.v2 (conflicted copy 2026-11-21 090507 from laptop)', { isDir: true }],
    [
      'plan (conflicted copy 2026-11-20 080000 from desktop).md',
      'plan (conflicted copy 2026-11-20 080000 from desktop) (conflicted copy 2026-11-21 090507 from laptop).md',
    ],
    ['a.txt', 'a (conflicted copy 2026-11-21 090507 from my_phone).txt', { device: 'my/phone' }],
  ];
  for (const [input, expected, extra] of golden) {
    it(`${input} -> ${expected}`, () => expect(name(input, extra)).toBe(expected));
  }

  it('counts up when the name is taken', () => {
    const first = name('a.txt');
    expect(name('a.txt', { taken: (p) => p === first })).toBe(
      'a (conflicted copy 2026-11-21 090507 from laptop 2).txt',
    );
  });

  it('stays within 255 bytes by shortening the stem', () => {
    const long = `${'x'.repeat(250)}.txt`;
    const copy = name(long);
    expect(Buffer.byteLength(copy)).toBeLessThanOrEqual(255);
    expect(copy.endsWith(' (conflicted copy 2026-11-21 090507 from laptop).txt')).toBe(true);
  });
});

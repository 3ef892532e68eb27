/**
 * The mass-deletion guard's limits as settings (issue 19): `tandem sync --max-deletions` and
 * `--max-deletion-percent` win over `maxDeletions` / `maxDeletionPercent` in config.json,
 * which win over the defaults; a value out of range is refused, naming where it came from.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELETION_LIMITS } from '../../src/agent/deletion-guard.js';
import { deletionLimits } from '../../src/cli/config.js';

describe('deletion limits', () => {
  it('are 500 files and half by default', () => {
    expect(deletionLimits({}, {})).toEqual({ maxFiles: 500, maxShare: 0.5 });
    expect(DEFAULT_DELETION_LIMITS).toEqual({ maxFiles: 500, maxShare: 0.5 });
  });

  it('come from the config file, and the command line wins over it', () => {
    const config = { maxDeletions: 2000, maxDeletionPercent: 80 };
    expect(deletionLimits(config, {})).toEqual({ maxFiles: 2000, maxShare: 0.8 });
    expect(deletionLimits(config, { maxDeletions: '10', maxDeletionPercent: '100' })).toEqual({
      maxFiles: 10,
      maxShare: 1,
    });
  });

  const refused: [string, Parameters<typeof deletionLimits>, RegExp][] = [
    [
      'no files',
      [{}, { maxDeletions: '0' }],
      /^--max-deletions must be a whole number of files, at least 1/,
    ],
    ['a fraction of a file', [{}, { maxDeletions: '2.5' }], /^--max-deletions must be/],
    ['a word', [{}, { maxDeletions: 'many' }], /^--max-deletions must be/],
    ['nothing', [{}, { maxDeletions: '' }], /^--max-deletions must be/],
    [
      '0%',
      [{}, { maxDeletionPercent: '0' }],
      /^--max-deletion-percent must be a percentage above 0 and at most 100/,
    ],
    ['over 100%', [{}, { maxDeletionPercent: '150' }], /^--max-deletion-percent must be/],
    ['a bad config value', [{ maxDeletions: -3 }, {}], /^"maxDeletions" in .*config\.json must be/],
  ];
  for (const [what, args, message] of refused)
    it(`refuse ${what}`, () => {
      expect(() => deletionLimits(...args)).toThrow(message);
    });
});

import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../../src/protocol/sizes.js';

describe('parseSize', () => {
  it.each([
    ['a bare number is bytes', '123', 123],
    ['binary units', '10GiB', 10 * 2 ** 30],
    ['decimal units, any case, a space', '500 mb', 500e6],
    ['fractions round down', '1.5KiB', 1536],
    ['bytes spelled out', '20B', 20],
  ])('%s', (_what, text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each([['lots'], ['-1GB'], ['10XB'], [''], ['1e3'], ['9999999TiB']])('refuses %j', (text) =>
    expect(parseSize(text)).toBeUndefined(),
  );
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [8 * 2 ** 20, '8 MiB'],
    [1.5 * 2 ** 30, '1.5 GiB'],
    [14_680_064 + 1, '14.0 MiB'],
  ])('%d bytes is %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));

  it('says what parseSize reads back', () => {
    for (const bytes of [20, 10 * 2 ** 30, 512 * 2 ** 10])
      expect(parseSize(formatSize(bytes).replace(' ', ''))).toBe(bytes);
  });
});

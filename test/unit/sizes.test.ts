import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/protocol/sizes.js';

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

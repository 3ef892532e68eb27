import { describe, expect, it } from 'vitest';
import { checkEntry } from '../../src/core/entry-check.js';
import { MAX_MTIME_MS } from '../../src/core/entry.js';
import { chunkIdOf, contentIdOf } from '../../src/core/hashing.js';
import { checkManifest } from '../../src/core/manifest-check.js';
import type { ChunkId } from '../../src/core/ids.js';

const ID = 'ab'.repeat(32);
const file = (fields: Record<string, unknown> = {}) => ({
  kind: 'file',
  contentId: ID,
  size: 10,
  executable: false,
  mtime: 1_700_000_000_000,
  ...fields,
});

describe('checkEntry', () => {
  const valid: [string, unknown][] = [
    ['a file', file()],
    ['an empty, executable file', file({ size: 0, executable: true })],
    ['a file from the first millisecond of 1970', file({ mtime: 0 })],
    ['a file from the last millisecond allowed (2200)', file({ mtime: MAX_MTIME_MS })],
    ['the largest file', file({ size: Number.MAX_SAFE_INTEGER })],
    ['a folder', { kind: 'dir' }],
    ['a private file (0o600)', file({ mode: 0o600 })],
    ['a file only its group may execute (0o650)', file({ mode: 0o650, executable: true })],
    ['a file of mode 0', file({ mode: 0 })],
    ['a private folder (0o700)', { kind: 'dir', mode: 0o700 }],
    ['a folder of mode 0o777', { kind: 'dir', mode: 0o777 }],
    ['a link to a folder outside (data: never followed)', { kind: 'symlink', target: '/tmp/x' }],
    ['a link of 4096 bytes', { kind: 'symlink', target: 'x'.repeat(4096) }],
    ['a link of 1365 three-byte characters', { kind: 'symlink', target: '€'.repeat(1365) }],
    ['a link with a character outside the BMP', { kind: 'symlink', target: 'a/😀' }],
  ];
  for (const [description, value] of valid)
    it(`accepts ${description}`, () => {
      const check = checkEntry(value);
      expect(check).toEqual({ ok: true, entry: value });
    });

  const invalid: [string, unknown, RegExp][] = [
    ['nothing', undefined, /must be an object/],
    ['null', null, /must be an object/],
    ['a list', [], /must be an object/],
    ['a string', 'file', /must be an object/],
    ['an unknown kind', { kind: 'socket' }, /kind must be "file", "dir" or "symlink"/],
    ['no kind', {}, /kind must be/],
    ['a content id in capitals', file({ contentId: ID.toUpperCase() }), /64 lowercase hex/],
    ['a short content id', file({ contentId: 'ab' }), /64 lowercase hex/],
    ['a content id with a newline after it', file({ contentId: `${ID}\n` }), /64 lowercase hex/],
    ['a negative size', file({ size: -5 }), /size must be a whole number.*-5/],
    ['a fractional size', file({ size: 1.5 }), /size must be a whole number/],
    ['a size past 2^53', file({ size: 2 ** 53 }), /size must be a whole number/],
    ['a size given as text', file({ size: '10' }), /size must be a whole number.*"10"/],
    ['an executable bit given as 1', file({ executable: 1 }), /executable bit must be true/],
    ['an mtime of 1e18', file({ mtime: 1e18 }), /from 1970 to 2200.*1000000000000000000/],
    ['an mtime before 1970', file({ mtime: -1 }), /from 1970 to 2200/],
    ['an mtime past 2200', file({ mtime: MAX_MTIME_MS + 1 }), /from 1970 to 2200/],
    ['a fractional mtime', file({ mtime: 1.5 }), /whole milliseconds/],
    ['an mtime of NaN', file({ mtime: NaN }), /whole milliseconds/],
    ['a file without an mtime', file({ mtime: undefined }), /modification time/],
    ['a file with an extra field', file({ owner: 'root' }), /no field "owner"/],
    ['a file whose mode says executable', file({ mode: 0o755 }), /must agree with its mode/],
    ['an executable file of mode 0o644', file({ mode: 0o644, executable: true }), /0o644/],
    ['a setuid file', file({ mode: 0o4755, executable: true }), /from 0 to 0o777.*0o4755/],
    ['a sticky folder', { kind: 'dir', mode: 0o1777 }, /from 0 to 0o777/],
    ['a negative mode', { kind: 'dir', mode: -1 }, /from 0 to 0o777/],
    ['a mode given as text', file({ mode: '600' }), /from 0 to 0o777.*"600"/],
    ['a link with a mode', { kind: 'symlink', target: 'x', mode: 0o777 }, /a link has no mode/],
    ['a folder with a target', { kind: 'dir', target: 'x' }, /no field "target"/],
    ['a folder with __proto__', JSON.parse('{"kind":"dir","__proto__":{}}'), /__proto__/],
    ['a link without a target', { kind: 'symlink' }, /non-empty string/],
    ['a link with an empty target', { kind: 'symlink', target: '' }, /non-empty string/],
    ['a link with NUL in its target', { kind: 'symlink', target: 'a\u0000b' }, /NUL/],
    ['a link of 4097 bytes', { kind: 'symlink', target: 'x'.repeat(4097) }, /at most 4096 bytes/],
    [
      'a link of 1366 three-byte characters (4098 bytes)',
      { kind: 'symlink', target: '€'.repeat(1366) },
      /at most 4096 bytes/,
    ],
    [
      'a link with an unpaired surrogate',
      { kind: 'symlink', target: 'a\ud800b' },
      /unpaired surrogate/,
    ],
  ];
  for (const [description, value, reason] of invalid)
    it(`refuses ${description}, saying why`, () => {
      const check = checkEntry(value);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.reason).toMatch(reason);
    });
});

describe('checkManifest', () => {
  const hello = { id: chunkIdOf(Buffer.from('hello')), size: 5 };
  const world = { id: chunkIdOf(Buffer.from(' world')), size: 6 };
  const of = (chunks: { id: ChunkId; size: number }[], size?: number) => ({
    contentId: contentIdOf(chunks),
    size: size ?? chunks.reduce((n, c) => n + c.size, 0),
    chunks,
  });

  const cases: [string, unknown, RegExp | undefined][] = [
    ['a manifest of two chunks', of([hello, world]), undefined],
    ['the empty file', of([]), undefined],
    [
      'a size that is not the sum of its chunks',
      of([hello, world], 10),
      /says 10 bytes, but its chunks add up to 11/,
    ],
    [
      'a content id that is not the hash of its chunk ids',
      { ...of([hello]), contentId: of([world]).contentId },
      /not the hash of its chunk ids/,
    ],
    [
      'chunks in another order (the content id covers the order)',
      { ...of([hello, world]), chunks: [world, hello] },
      /not the hash/,
    ],
    ['a negative chunk size', of([{ ...hello, size: -5 }, world]), /no valid size/],
    ['a chunk id in capitals', of([{ ...hello, id: hello.id.toUpperCase() as ChunkId }]), /hex/],
    ['no chunk list', { contentId: of([]).contentId, size: 0 }, /must be a list/],
    ['nothing', null, /must be an object/],
  ];
  for (const [description, value, reason] of cases)
    it(`${reason ? 'refuses' : 'accepts'} ${description}`, () => {
      const check = checkManifest(value);
      expect(check.ok).toBe(reason === undefined);
      if (!check.ok) expect(check.reason).toMatch(reason!);
    });

  it('cannot see a chunk size that lies when the sizes still add up (only the bytes can)', () => {
    // Claims 10 bytes for the 5-byte chunk "hello": the content id covers the ids, not the sizes.
    expect(checkManifest(of([{ ...hello, size: 10 }])).ok).toBe(true);
  });
});

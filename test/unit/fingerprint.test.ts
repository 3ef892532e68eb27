import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  fingerprintHex,
  fingerprintOf,
  formatFingerprint,
  parseFingerprint,
} from '../../src/core/fingerprint.js';

const der = Buffer.from('not really a certificate, but bytes all the same');
const digest = createHash('sha256').update(der).digest();
const base64 = digest.toString('base64'); // 44 characters, one '=' of padding
const hexColons = digest.toString('hex').toUpperCase().match(/../g)!.join(':');
const expected = `SHA256:${base64.slice(0, 43)}`;

describe('fingerprintOf / formatFingerprint', () => {
  it('writes SHA256: and the digest in base64 without padding', () => {
    expect(fingerprintOf(der)).toBe(expected);
    expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses a digest that is not 32 bytes', () => {
    expect(() => formatFingerprint(new Uint8Array(20))).toThrow(/32 bytes/);
  });

  it('shows the same fingerprint as colon-separated hex, as openssl does', () => {
    expect(fingerprintHex(fingerprintOf(der))).toBe(hexColons);
  });
});

describe('parseFingerprint', () => {
  const accepted: [string, string][] = [
    ['the form Tandem prints', expected],
    ['with base64 padding', `SHA256:${base64}`],
    ['with a lowercase prefix', `sha256:${base64.slice(0, 43)}`],
    ['with spaces around it (pasted)', `  ${expected}\n`],
    ['colon-separated uppercase hex', hexColons],
    ['colon-separated lowercase hex', hexColons.toLowerCase()],
    ['colon-separated hex after SHA256:', `SHA256:${hexColons}`],
    ["openssl's whole line", `sha256 Fingerprint=${hexColons}`],
    ['64 hex digits', digest.toString('hex')],
  ];
  for (const [description, input] of accepted) {
    it(`reads ${description}`, () => {
      expect(parseFingerprint(input)).toBe(expected);
    });
  }

  const rejected: [string, string][] = [
    ['an empty string', ''],
    ['the prefix alone', 'SHA256:'],
    ['base64 one character short', expected.slice(0, -1)],
    ['base64 of another length', `SHA256:${Buffer.alloc(20).toString('base64')}`],
    ['31 hex bytes', hexColons.slice(3)],
    ['hex with a stray character', `${hexColons.slice(0, -1)}G`],
    ['hex groups of the wrong size', digest.toString('hex').match(/..../g)!.join(':')],
    ['a SHA-1 fingerprint', 'AB:'.repeat(19) + 'AB'],
    ['base64 with non-zero padding bits', `SHA256:${base64.slice(0, 42)}/`],
    ['words', 'the one on the screen'],
  ];
  for (const [description, input] of rejected) {
    it(`refuses ${description}`, () => {
      expect(parseFingerprint(input)).toBeUndefined();
    });
  }
});

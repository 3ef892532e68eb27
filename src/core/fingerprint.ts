/**
 * Certificate fingerprints as people compare them: the SHA-256 of a certificate's DER,
 * written `SHA256:` + base64 without padding (43 characters), as OpenSSH writes key
 * fingerprints. On input the colon-separated hex that `openssl x509 -fingerprint -sha256`
 * and browsers show is accepted too.
 */
import { createHash } from 'node:crypto';
import type { Brand } from './ids.js';

/** `SHA256:` + 43 characters of unpadded base64: the one form Tandem prints and stores. */
export type Fingerprint = Brand<string, 'Fingerprint'>;

const PREFIX = 'SHA256:';
const BASE64_43 = /^[A-Za-z0-9+/]{43}=?$/;
const HEX_COLONS = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/i;
const HEX_64 = /^[0-9a-f]{64}$/i;

/** The fingerprint of a certificate, given its DER bytes. */
export function fingerprintOf(der: Uint8Array): Fingerprint {
  return formatFingerprint(createHash('sha256').update(der).digest());
}

/** Writes 32 digest bytes in Tandem's form. Throws (a programmer error) for another length. */
export function formatFingerprint(digest: Uint8Array): Fingerprint {
  if (digest.length !== 32) throw new Error(`a SHA-256 digest has 32 bytes, not ${digest.length}`);
  return `${PREFIX}${Buffer.from(digest).toString('base64').replace(/=+$/, '')}` as Fingerprint;
}

/** The same fingerprint as colon-separated uppercase hex (`AB:CD:...`), as openssl shows it. */
export function fingerprintHex(fingerprint: Fingerprint): string {
  const hex = Buffer.from(fingerprint.slice(PREFIX.length), 'base64').toString('hex');
  return hex.toUpperCase().match(/../g)!.join(':');
}

/**
 * Reads a fingerprint a person typed or pasted: `SHA256:<base64>` (padded or not), 32 bytes of
 * colon-separated hex, or 64 hex digits, each with or without a `SHA256:` (any case) or
 * openssl's `sha256 Fingerprint=` in front. Returns undefined for anything else; never throws.
 */
export function parseFingerprint(text: string): Fingerprint | undefined {
  let body = text.trim();
  const prefix = /^(sha-?256:|sha256 fingerprint=)/i.exec(body);
  if (prefix) body = body.slice(prefix[0].length).trim();
  if (HEX_COLONS.test(body)) return formatFingerprint(Buffer.from(body.replace(/:/g, ''), 'hex'));
  if (HEX_64.test(body)) return formatFingerprint(Buffer.from(body, 'hex'));
  // Base64 is case-sensitive, so it is only taken as written.
  if (BASE64_43.test(body)) {
    const digest = Buffer.from(body, 'base64');
    // 43 characters carry 258 bits: the last two must be zero for a canonical 32-byte value.
    if (digest.length === 32 && formatFingerprint(digest) === `${PREFIX}${body.replace(/=$/, '')}`)
      return formatFingerprint(digest);
  }
  return undefined;
}

/**
 * The hub's TLS certificate: a given PEM pair (`--tls-cert`/`--tls-key`), or a self-signed
 * one made once in `DATA/tls/` (`--tls`) and reused on every later start, so the fingerprint
 * devices pinned stays valid. The certificate is written here with node:crypto and a small
 * DER writer: ECDSA P-256, signed with SHA-256, valid for about 10 years.
 */
import {
  X509Certificate,
  createPrivateKey,
  generateKeyPair,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fingerprintOf, type Fingerprint } from '../core/fingerprint.js';

/** What the hub serves with, and what it tells people about it. */
export interface TlsMaterial {
  /** PEM: the certificate (and any chain after it). */
  readonly cert: string;
  /** PEM: the private key. */
  readonly key: string;
  readonly fingerprint: Fingerprint;
  /** Where the certificate came from. */
  readonly certFile: string;
  /** True for the hub's own self-signed certificate in `DATA/tls/`. */
  readonly generated: boolean;
  /** The DNS names and IP addresses the certificate is made out to. */
  readonly names: readonly string[];
  readonly validTo: Date;
}

/** A certificate or key that cannot be used; the message is one line for people. */
export class CertificateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateError';
  }
}

/** The folder under the hub's data directory that holds its generated certificate. */
export function generatedTlsDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const VALID_DAYS = 3653;

/**
 * The hub's self-signed certificate in `DATA/tls/`, made on the first call and read on every
 * later one (never replaced: a new one would break every device's pin; delete the folder to
 * get a new one). The folder appears complete or not at all (it is written under a temporary
 * name and renamed), so two hubs starting at once end up with the same certificate. `host` is
 * the `--host` address, added to the names unless it is a wildcard. Throws CertificateError
 * when the folder exists but does not hold a usable pair.
 */
export async function ensureGeneratedCertificate(
  dataDir: string,
  host?: string,
): Promise<TlsMaterial & { readonly created: boolean }> {
  const existing = await readGeneratedCertificate(dataDir);
  if (existing) return { ...existing, created: false };
  await mkdir(dataDir, { recursive: true });
  const pair = await createSelfSignedCertificate(subjectNames(host));
  // mkdtemp makes the folder 0700; the key is written 0600 inside it.
  const temp = await mkdtemp(join(dataDir, '.tls-'));
  let created = false;
  try {
    await writeDurably(join(temp, KEY_FILE), pair.key, 0o600);
    await writeDurably(join(temp, CERT_FILE), pair.cert, 0o644);
    await rename(temp, generatedTlsDir(dataDir));
    created = true;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // Another hub on the same folder made it first: use that one.
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  const made = await readGeneratedCertificate(dataDir);
  if (!made) throw new CertificateError(`cannot create ${generatedTlsDir(dataDir)}`);
  return { ...made, created };
}

/**
 * The certificate `ensureGeneratedCertificate` made, or undefined when there is none yet.
 * Throws CertificateError when `DATA/tls/` exists but its files are missing or not a pair.
 */
export async function readGeneratedCertificate(dataDir: string): Promise<TlsMaterial | undefined> {
  const dir = generatedTlsDir(dataDir);
  const certFile = join(dir, CERT_FILE);
  let cert: string;
  try {
    cert = await readFile(certFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable(certFile, error);
    try {
      await readFile(join(dir, KEY_FILE));
    } catch {
      return undefined; // neither file: nothing was made yet
    }
    throw new CertificateError(
      `${dir} holds a key but no ${CERT_FILE}: remove ${dir} to make a new certificate (devices must then pin the new fingerprint)`,
    );
  }
  const key = await readPem(join(dir, KEY_FILE), 'key');
  return material(cert, key, certFile, true, `remove ${dir} to make a new one`);
}

/**
 * Reads a given certificate (PEM, the hub's own first, then any chain) and its private key.
 * Throws CertificateError when a file cannot be read, is not PEM of the right kind, or the
 * key does not belong to the certificate.
 */
export async function loadCertificate(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readPem(certFile, 'cert'), readPem(keyFile, 'key')]);
  return material(cert, key, certFile, false, `check --tls-cert and --tls-key`);
}

/** The fingerprint of a PEM certificate file, without its key (`tandem server fingerprint`). */
export async function certificateFileInfo(
  certFile: string,
): Promise<Omit<TlsMaterial, 'key' | 'generated'>> {
  const cert = await readPem(certFile, 'cert');
  const parsed = parseCertificate(cert, certFile);
  return { cert, certFile, ...describe(parsed) };
}

/**
 * A new self-signed certificate and its key, both PEM, made out to `names` (DNS names and IP
 * addresses; the first is also the common name): ECDSA P-256 signed with SHA-256, usable by a
 * TLS server only (not a CA), valid from an hour before `now` (for clocks a little behind)
 * for about 10 years.
 */
export async function createSelfSignedCertificate(
  names: readonly string[],
  now = new Date(),
): Promise<{ cert: string; key: string }> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('ec', { namedCurve: 'P-256' });
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + VALID_DAYS * 86_400_000);
  const der = certificateDer({ names, notBefore, notAfter, publicKey, privateKey });
  return {
    cert: new X509Certificate(der).toString(),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * The names a generated certificate is made out to: localhost and the loopback addresses, this
 * machine's host name, and `host` (the `--host` address) unless it is a wildcard (0.0.0.0,
 * ::) or already listed.
 */
export function subjectNames(host?: string, machine: string = hostname()): string[] {
  const names = ['localhost', '127.0.0.1', '::1'];
  const add = (name: string | undefined) => {
    if (!name) return;
    const bare = name.replace(/^\[(.*)\]$/, '$1');
    if (bare === '0.0.0.0' || bare === '::' || bare.includes('%')) return;
    if (!isIP(bare) && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(bare)) return;
    if (!names.some((known) => known.toLowerCase() === bare.toLowerCase())) names.push(bare);
  };
  add(machine);
  add(host);
  return names;
}

function material(
  cert: string,
  key: string,
  certFile: string,
  generated: boolean,
  advice: string,
): TlsMaterial {
  const parsed = parseCertificate(cert, certFile);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new CertificateError(`the private key for ${certFile} is not valid PEM: ${advice}`, {
      cause: error,
    });
  }
  if (!parsed.checkPrivateKey(privateKey))
    throw new CertificateError(
      `the private key does not belong to the certificate ${certFile}: ${advice}`,
    );
  return { cert, key, certFile, generated, ...describe(parsed) };
}

function describe(parsed: X509Certificate) {
  const names = (parsed.subjectAltName ?? '')
    .split(', ')
    .map((name) => name.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
  return { fingerprint: fingerprintOf(parsed.raw), names, validTo: new Date(parsed.validTo) };
}

function parseCertificate(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new CertificateError(`${file} does not hold a valid PEM certificate`, { cause: error });
  }
}

async function readPem(file: string, kind: 'cert' | 'key'): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw unreadable(file, error);
  }
  const marker =
    kind === 'cert' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!marker.test(text))
    throw new CertificateError(
      `${file} is not a PEM ${kind === 'cert' ? 'certificate' : 'private key'} (no "-----BEGIN ${kind === 'cert' ? 'CERTIFICATE' : '... PRIVATE KEY'}-----" line)`,
    );
  return text;
}

function unreadable(file: string, error: unknown): CertificateError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'it is a folder'
          : (error as Error).message;
  return new CertificateError(`cannot read ${file}: ${why}`, { cause: error });
}

async function writeDurably(file: string, text: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode); // whatever the umask
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// --- The certificate in DER (RFC 5280), only what a self-signed server certificate needs.

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

interface CertificateFields {
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

function certificateDer(fields: CertificateFields): Buffer {
  const common = fields.names[0] ?? 'localhost';
  const name = sequence(
    set(sequence(oid(OID.organization), utf8('Tandem hub'))),
    set(sequence(oid(OID.commonName), utf8(common.slice(0, 64)))),
  );
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  // A positive serial of at most 20 bytes: 16 random bytes with the top bit cleared.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const extensions = sequence(
    extension(OID.basicConstraints, true, sequence()),
    // digitalSignature only: a named bit string drops its trailing zero bits (7 unused).
    extension(OID.keyUsage, true, tlv(0x03, Buffer.from([0x07, 0x80]))),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, sequence(...fields.names.map(generalName))),
  );
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // version: v3
    integer(serial),
    signatureAlgorithm,
    name,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    name,
    fields.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, fields.privateKey); // DER ECDSA-Sig-Value
  return sequence(tbs, signatureAlgorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

function tlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function sequence(...items: Uint8Array[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Uint8Array[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function integer(bytes: Uint8Array): Buffer {
  // Positive integers whose top bit is set need a leading zero byte.
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function utf8(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const digits = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) digits.unshift((value & 0x7f) | 0x80);
    bytes.push(...digits);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return sequence(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** A subjectAltName entry: iPAddress [7] for addresses, dNSName [2] otherwise. */
function generalName(name: string): Buffer {
  const version = isIP(name);
  if (version === 4) return tlv(0x87, Buffer.from(name.split('.').map(Number)));
  if (version === 6) return tlv(0x87, ipv6Bytes(name));
  return tlv(0x82, Buffer.from(name, 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  const out = Buffer.alloc(16);
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

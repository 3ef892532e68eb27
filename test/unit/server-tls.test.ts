/** The hub's certificates (src/server/tls.ts): made once, read back, and refused clearly. */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/core/fingerprint.js';
import {
  CertificateError,
  createSelfSignedCertificate,
  ensureGeneratedCertificate,
  loadCertificate,
  readGeneratedCertificate,
  subjectNames,
} from '../../src/server/tls.js';

const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-tls-unit-'));
  temps.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('createSelfSignedCertificate', () => {
  it('makes an ECDSA P-256 server certificate signed with SHA-256, valid about 10 years', async () => {
    const now = new Date('2025-06-01T12:00:00Z');
    const { cert, key } = await createSelfSignedCertificate(
      ['localhost', '127.0.0.1', '::1', 'hub.example'],
      now,
    );
    const x509 = new X509Certificate(cert);
    expect(x509.verify(x509.publicKey)).toBe(true); // self-signed, and the signature holds
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(x509.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:hub.example',
    );
    expect(x509.checkHost('hub.example')).toBe('hub.example');
    expect(x509.checkIP('::1')).toBe('::1');
    const from = new Date(x509.validFrom).getTime();
    const to = new Date(x509.validTo).getTime();
    expect(from).toBeLessThan(now.getTime());
    expect((to - from) / (365.25 * 86_400_000)).toBeCloseTo(10, 1);
  });

  it('writes dates after 2049 as GeneralizedTime, which parsers read back', async () => {
    const { cert } = await createSelfSignedCertificate(['localhost'], new Date('2045-01-01Z'));
    expect(new Date(new X509Certificate(cert).validTo).getUTCFullYear()).toBe(2055);
  });

  it('makes a different key and fingerprint each time', async () => {
    const a = await createSelfSignedCertificate(['localhost']);
    const b = await createSelfSignedCertificate(['localhost']);
    expect(fingerprintOf(new X509Certificate(a.cert).raw)).not.toBe(
      fingerprintOf(new X509Certificate(b.cert).raw),
    );
  });
});

describe('subjectNames', () => {
  it('covers loopback, the machine and the --host address', () => {
    expect(subjectNames('192.168.1.20', 'desk')).toEqual([
      'localhost',
      '127.0.0.1',
      '::1',
      'desk',
      '192.168.1.20',
    ]);
    expect(subjectNames('hub.lan', 'desk')).toContain('hub.lan');
    expect(subjectNames('[fd00::5]', 'desk')).toContain('fd00::5');
  });

  it('leaves out wildcards, duplicates and what is not a name', () => {
    expect(subjectNames('0.0.0.0', 'desk')).toEqual(['localhost', '127.0.0.1', '::1', 'desk']);
    expect(subjectNames('::', 'LOCALHOST')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(subjectNames('fe80::1%eth0', 'bad name!')).toEqual(['localhost', '127.0.0.1', '::1']);
  });
});

describe('ensureGeneratedCertificate', () => {
  it('makes the certificate once, with a 0600 key, and reuses it on later starts', async () => {
    const data = join(await temp(), 'data');
    const first = await ensureGeneratedCertificate(data, '10.1.2.3');
    expect(first.created).toBe(true);
    expect(first.generated).toBe(true);
    expect(first.names).toContain('10.1.2.3');
    expect((await stat(join(data, 'tls', 'key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(data, 'tls'))).mode & 0o777).toBe(0o700);
    expect(first.fingerprint).toBe(
      fingerprintOf(new X509Certificate(await readFile(join(data, 'tls', 'cert.pem'))).raw),
    );

    const again = await ensureGeneratedCertificate(data, 'another.host');
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.key).toBe(first.key);
    expect((await readGeneratedCertificate(data))?.fingerprint).toBe(first.fingerprint);
  });

  it('gives two hubs starting at once the same certificate', async () => {
    const data = join(await temp(), 'data');
    const [a, b] = await Promise.all([
      ensureGeneratedCertificate(data),
      ensureGeneratedCertificate(data),
    ]);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  });

  it('says so when the folder holds a key but no certificate, instead of replacing it', async () => {
    const data = join(await temp(), 'data');
    await ensureGeneratedCertificate(data);
    await rm(join(data, 'tls', 'cert.pem'));
    await expect(ensureGeneratedCertificate(data)).rejects.toThrow(
      /holds a key but no cert\.pem: remove .*tls to make a new certificate/,
    );
  });

  it('has nothing to read before the first start', async () => {
    expect(await readGeneratedCertificate(join(await temp(), 'data'))).toBeUndefined();
  });
});

describe('loadCertificate', () => {
  async function pairOnDisk() {
    const dir = await temp();
    const { cert, key } = await createSelfSignedCertificate(['localhost']);
    await writeFile(join(dir, 'cert.pem'), cert);
    await writeFile(join(dir, 'key.pem'), key);
    return { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  }

  it('reads a given pair', async () => {
    const files = await pairOnDisk();
    const loaded = await loadCertificate(files.cert, files.key);
    expect(loaded.generated).toBe(false);
    expect(loaded.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  const refusals: [
    string,
    (files: Awaited<ReturnType<typeof pairOnDisk>>) => Promise<[string, string]>,
    RegExp,
  ][] = [
    [
      'a missing certificate file',
      async (f) => [join(f.dir, 'nope.pem'), f.key],
      /cannot read .*nope\.pem: no such file/,
    ],
    ['a folder instead of a key', async (f) => [f.cert, f.dir], /cannot read .*: it is a folder/],
    ['a key given as the certificate', async (f) => [f.key, f.key], /is not a PEM certificate/],
    ['a certificate given as the key', async (f) => [f.cert, f.cert], /is not a PEM private key/],
    [
      'a garbled certificate',
      async (f) => {
        await writeFile(f.cert, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
        return [f.cert, f.key];
      },
      /does not hold a valid PEM certificate/,
    ],
    [
      'a key of another certificate',
      async (f) => {
        const other = await createSelfSignedCertificate(['localhost']);
        await writeFile(f.key, other.key);
        return [f.cert, f.key];
      },
      /the private key does not belong to the certificate .*cert\.pem/,
    ],
  ];
  for (const [description, arrange, message] of refusals) {
    it(`refuses ${description} with one line`, async () => {
      const [cert, key] = await arrange(await pairOnDisk());
      const failure = await loadCertificate(cert, key).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(CertificateError);
      expect((failure as Error).message).toMatch(message);
      expect((failure as Error).message).not.toContain('\n');
    });
  }
});

/**
 * The device's trust in its hub's certificate (src/agent/hub-trust.ts), against real TLS
 * servers on loopback: a pin accepts exactly its certificate whatever the names in it, no pin
 * means the system's CAs, and a refused hub never receives a byte.
 */
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../src/agent/hub-client.js';
import { HubCertificateError, hubTrust } from '../../src/agent/hub-trust.js';
import { fingerprintOf, type Fingerprint } from '../../src/core/fingerprint.js';
import { TandemError } from '../../src/protocol/errors.js';
import { createSelfSignedCertificate } from '../../src/server/tls.js';

interface TestServer {
  url: string;
  port: number;
  fingerprint: Fingerprint;
  /** PEM, to make a client trust it as a CA would. */
  cert: string;
  /** Bytes (raw TLS server) or requests (https server) that reached it. */
  received: () => number;
  close: () => Promise<void>;
}

/** An https server whose certificate names only `example.invalid`, not the loopback address. */
async function httpsServer(): Promise<TestServer> {
  const pair = await createSelfSignedCertificate(['example.invalid']);
  let requests = 0;
  const server = https.createServer(pair, (_request, response) => {
    requests++;
    response.setHeader('content-type', 'application/json');
    response.end('{"ok":true}');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    fingerprint: fingerprintOf(new X509Certificate(pair.cert).raw),
    cert: pair.cert,
    received: () => requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

/** A bare TLS server that counts every byte a client sends. */
async function tlsServer(): Promise<TestServer> {
  const pair = await createSelfSignedCertificate(['localhost', '127.0.0.1']);
  let bytes = 0;
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(pair, (socket) => {
    sockets.add(socket);
    socket.on('data', (data: Buffer) => (bytes += data.length));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    fingerprint: fingerprintOf(new X509Certificate(pair.cert).raw),
    cert: pair.cert,
    received: () => bytes,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

const otherPin = fingerprintOf(Buffer.from('some other certificate'));

async function get(transport: HttpTransport): Promise<unknown> {
  const response = await transport.send({ method: 'GET', path: '/api/v1/health' });
  return response.json();
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('HttpTransport with a hub trust', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await httpsServer();
  });
  afterAll(() => server.close());

  it('accepts the pinned certificate, though it names another host', async () => {
    const transport = new HttpTransport(server.url, hubTrust(server.url, server.fingerprint));
    expect(await get(transport)).toEqual({ ok: true });
    expect(await get(transport)).toEqual({ ok: true }); // again, on the kept-alive socket
  });

  it('refuses another certificate than the pinned one before sending the request', async () => {
    const before = server.received();
    const transport = new HttpTransport(server.url, hubTrust(server.url, otherPin));
    const error = await failure(get(transport));
    expect(error).toBeInstanceOf(HubCertificateError);
    const refusal = error as HubCertificateError;
    expect(refusal.code).toBe('CERTIFICATE_CHANGED');
    expect(refusal.status).toBe(495);
    expect(refusal.expected).toBe(otherPin);
    expect(refusal.presented).toBe(server.fingerprint);
    expect(refusal.message).toContain(
      `expected ${otherPin}, the hub presented ${server.fingerprint}`,
    );
    expect(refusal.message).toContain(
      `tandem login --server ${server.url} --fingerprint ${server.fingerprint}`,
    );
    expect(server.received()).toBe(before);
  });

  it('without a pin, refuses a self-signed certificate and shows its fingerprint', async () => {
    const before = server.received();
    const error = await failure(get(new HttpTransport(server.url)));
    expect(error).toBeInstanceOf(HubCertificateError);
    const refusal = error as HubCertificateError;
    expect(refusal.code).toBe('UNREACHABLE');
    expect(refusal.presented).toBe(server.fingerprint);
    expect(refusal.message).toMatch(/does not trust \(it is self-signed\)/);
    expect(refusal.message).toContain(`--fingerprint ${server.fingerprint}`);
    expect(refusal.message).not.toContain('\n');
    expect(server.received()).toBe(before);
  });

  it('reports a hub that does not speak TLS as unreachable, in one line', async () => {
    const http = await import('node:http');
    const plain = http.createServer((_q, r) => r.end('{}'));
    await new Promise<void>((done) => plain.listen(0, '127.0.0.1', done));
    const url = `https://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    try {
      const error = await failure(get(new HttpTransport(url, hubTrust(url, otherPin))));
      expect(error).toBeInstanceOf(TandemError);
      expect((error as TandemError).code).toBe('UNREACHABLE');
      expect((error as TandemError).message).toBe(
        `The hub at ${url} did not answer in TLS (EPROTO): if it runs without --tls, use ${url.replace('https:', 'http:')}`,
      );
    } finally {
      plain.closeAllConnections();
      await new Promise((done) => plain.close(done));
    }
  });
});

describe('hubTrust().connect', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await tlsServer();
  });
  afterAll(() => server.close());

  /** Connects, writes a secret at once (before the handshake) and reports what happened. */
  function connectAndWrite(pin?: Fingerprint, extra: tls.ConnectionOptions = {}) {
    return new Promise<{ error?: Error; refused?: HubCertificateError; connected: boolean }>(
      (done) => {
        let refused: HubCertificateError | undefined;
        const trust = hubTrust(server.url, pin);
        const socket = trust.connect(
          { host: '127.0.0.1', port: server.port, ...extra },
          (error) => {
            refused = error;
          },
        );
        socket.write('Authorization: Bearer secret-token\r\n');
        socket.on('secureConnect', () => {
          // Listeners after the trust's own still hear the event, on a destroyed socket.
          if (socket.destroyed) return;
          socket.end();
          done({ connected: true });
        });
        socket.on('error', (error) =>
          done({ error, ...(refused ? { refused } : {}), connected: false }),
        );
      },
    );
  }

  it('lets the pinned hub receive what was written', async () => {
    const before = server.received();
    expect((await connectAndWrite(server.fingerprint)).connected).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.received()).toBeGreaterThan(before);
  });

  it('sends not one byte written before the handshake to a hub with another certificate', async () => {
    const before = server.received();
    const outcome = await connectAndWrite(otherPin);
    expect(outcome.connected).toBe(false);
    expect(outcome.error).toBeInstanceOf(HubCertificateError);
    expect(outcome.refused).toBe(outcome.error); // onRefused hears of it too
    await new Promise((r) => setTimeout(r, 100));
    expect(server.received()).toBe(before);
  });

  it('sends not one byte to an untrusted hub when there is no pin', async () => {
    const before = server.received();
    const outcome = await connectAndWrite();
    expect(outcome.connected).toBe(false);
    expect((outcome.error as HubCertificateError).code).toBe('UNREACHABLE');
    await new Promise((r) => setTimeout(r, 100));
    expect(server.received()).toBe(before);
  });

  it('without a pin, accepts a certificate the CAs vouch for, made out to the host', async () => {
    // The server's certificate given as a CA: as a system would trust a real one.
    expect((await connectAndWrite(undefined, { ca: server.cert })).connected).toBe(true);
  });

  it('without a pin, refuses a CA-vouched certificate made out to another host', async () => {
    const named = await httpsServer(); // names example.invalid only
    try {
      const outcome = await new Promise<Error>((done) => {
        const socket = hubTrust(named.url).connect({
          host: '127.0.0.1',
          port: named.port,
          ca: named.cert,
        });
        socket.on('error', done);
      });
      expect(outcome).toBeInstanceOf(HubCertificateError);
      expect(outcome.message).toMatch(/does not trust \(it is not made out to 127\.0\.0\.1\)/);
    } finally {
      await named.close();
    }
  });
});

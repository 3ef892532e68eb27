/**
 * Which TLS certificate a device accepts from its hub. With a pinned fingerprint (from
 * `tandem login --fingerprint`), exactly that certificate and nothing else: the pin replaces
 * the chain and host name checks, so a self-signed hub works and an impostor with any other
 * certificate, even one a CA signed, is refused. Without a pin, Node's usual verification
 * against the system's CAs and the host name.
 *
 * Node checks the chain before the handshake completes, but a refused socket then carries no
 * certificate to show, and a person needs the fingerprint the hub presented to decide. So
 * sockets are opened with Node's rejection turned off, and the decision is taken here, in the
 * first 'secureConnect' listener: Node writes nothing (no request line, no token) before that
 * event, and a refused socket is destroyed inside it.
 */
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { fingerprintOf, type Fingerprint } from '../core/fingerprint.js';
import { TandemError, formatError } from '../protocol/errors.js';

/**
 * A certificate refused. `code` is CERTIFICATE_CHANGED when a pinned hub presented another
 * certificate (the agent stops: only a person can tell a renewal from an impostor), and
 * UNREACHABLE when a hub without a pin presented one the system does not trust.
 */
export class HubCertificateError extends TandemError {
  constructor(
    code: 'CERTIFICATE_CHANGED' | 'UNREACHABLE',
    message: string,
    /** The fingerprint of the certificate the hub presented, if it presented one. */
    readonly presented: Fingerprint | undefined,
    /** The pinned fingerprint, if there is one. */
    readonly expected: Fingerprint | undefined,
  ) {
    super(code, message);
  }
}

export interface HubTrust {
  /** The hub's URL, for messages. */
  readonly hub: string;
  /** The pinned fingerprint; undefined: the system's CAs decide. */
  readonly pin: Fingerprint | undefined;
  /**
   * `tls.connect` with this trust. A refused socket is destroyed with a HubCertificateError
   * before any byte of the caller's is written; `onRefused` is then called with the same error.
   */
  connect(
    options: tls.ConnectionOptions,
    onRefused?: (error: HubCertificateError) => void,
  ): tls.TLSSocket;
  /** A keep-alive https.Agent whose every connection is made by `connect`. */
  agent(options: https.AgentOptions): https.Agent;
  /**
   * Options for `new WebSocket(url, ...)` (package ws): its TLS connection made by `connect`.
   * `onRefused` hears of a refused certificate, which reconnecting cannot mend.
   */
  webSocketOptions(onRefused?: (error: HubCertificateError) => void): {
    createConnection: typeof net.createConnection;
  };
}

/** The trust of a device in the hub at `hub`, pinned to `pin` when given. Pure; opens nothing. */
export function hubTrust(hub: string, pin?: Fingerprint): HubTrust {
  const trust: HubTrust = {
    hub,
    pin,
    connect(options, onRefused) {
      const host = options.host ?? 'localhost';
      const socket = tls.connect({
        ...options,
        // Without SNI for an address, as Node's https does (RFC 6066 allows only names).
        servername: options.servername ?? (net.isIP(host) ? '' : host),
        rejectUnauthorized: false, // decided below, with the certificate in hand
      });
      socket.once('secureConnect', () => {
        const refusal = judge(trust, socket, host);
        if (!refusal) return;
        socket.destroy(refusal);
        onRefused?.(refusal);
      });
      return socket;
    },
    agent(options) {
      return new GuardedAgent(trust, options);
    },
    webSocketOptions(onRefused) {
      // ws hands over http.request's options; only the TLS ones matter here.
      const createConnection = (options: tls.ConnectionOptions) =>
        trust.connect(options, onRefused);
      return { createConnection: createConnection as unknown as typeof net.createConnection };
    },
  };
  return trust;
}

/** An https.Agent whose sockets come from `HubTrust.connect`. */
class GuardedAgent extends https.Agent {
  constructor(
    private readonly trust: HubTrust,
    options: https.AgentOptions,
  ) {
    // No TLS session reuse: every connection shows its certificate and is judged afresh.
    super({ ...options, maxCachedSessions: 0 });
  }

  override createConnection(options: https.RequestOptions): Duplex {
    return this.trust.connect(options as tls.ConnectionOptions);
  }
}

/** Why the certificate on `socket` is refused, or undefined when it is accepted. */
function judge(
  trust: HubTrust,
  socket: tls.TLSSocket,
  host: string,
): HubCertificateError | undefined {
  const raw = socket.getPeerCertificate()?.raw;
  const presented = raw ? fingerprintOf(raw) : undefined;
  if (trust.pin) {
    if (presented === trust.pin) return undefined;
    return new HubCertificateError(
      'CERTIFICATE_CHANGED',
      formatError(
        'CERTIFICATE_CHANGED',
        trust.hub,
        trust.pin,
        presented ?? 'none',
        trust.hub,
        presented ?? 'SHA256:...',
      ),
      presented,
      trust.pin,
    );
  }
  if (socket.authorized && presented) return undefined;
  const reason = untrustedReason(socket.authorizationError, host);
  const advice = presented
    ? `; its fingerprint is ${presented}: if that is the fingerprint \`tandem server\` printed, pin it with --fingerprint ${presented} (\`tandem register\` or \`tandem login\`)`
    : '';
  return new HubCertificateError(
    'UNREACHABLE',
    `The hub at ${trust.hub} presented a certificate this system does not trust (${reason})${advice}`,
    presented,
    undefined,
  );
}

/** Node's verification error code, in words. */
function untrustedReason(error: Error | string | undefined, host: string): string {
  const code = typeof error === 'string' ? error : ((error as { code?: string })?.code ?? '');
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'it is self-signed';
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'it is signed by an authority this system does not know';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'its issuer is not known to this system';
    case 'CERT_HAS_EXPIRED':
      return 'it has expired';
    case 'CERT_NOT_YET_VALID':
      return 'it is not valid yet: check the clocks';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `it is not made out to ${host}`;
    default:
      return code || (typeof error === 'object' && error?.message) || 'no certificate';
  }
}

/**
 * Raw HTTP and WebSocket access to a listening hub, for tests that attack it: every request
 * goes on a connection of its own (no agent, no retries, no client-side checks), and the
 * answer comes back as status, headers and bytes, whatever they are.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import WebSocket from 'ws';
import { chunkFrameHead } from '../../src/protocol/frames.js';
import { ERRORS } from '../../src/protocol/errors.js';

export interface RawRequest {
  readonly method: string;
  /** Path and query, as sent on the request line (not re-encoded). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /** Gives up (and reports status 0) after this long; default 30 s. */
  readonly timeoutMs?: number;
}

export interface RawResponse {
  /** 0 when no answer came (the connection failed or timed out). */
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body as UTF-8. */
  readonly text: string;
  /** Why no (complete) answer came, when one did not. */
  readonly error?: string;
}

/** Sends one request on a fresh connection to `base` (http://host:port). */
export function send(base: string, request: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let settled = false;
    const done = (response: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(response);
    };
    const headers: Record<string, string | number> = { ...request.headers };
    const body =
      request.body === undefined
        ? undefined
        : typeof request.body === 'string'
          ? Buffer.from(request.body, 'utf8')
          : request.body;
    if (body !== undefined && headers['content-length'] === undefined)
      headers['content-length'] = body.length;
    const outgoing = http.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.path,
      headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      outgoing.destroy();
      done({ status: 0, headers: {}, body: Buffer.alloc(0), text: '', error: 'timed out' });
    }, request.timeoutMs ?? 30_000);
    outgoing.on('response', (incoming) => {
      const parts: Buffer[] = [];
      incoming.on('data', (part: Buffer) => parts.push(part));
      const finish = (error?: string) => {
        const bytes = Buffer.concat(parts);
        done({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          body: bytes,
          text: bytes.toString('utf8'),
          ...(error !== undefined ? { error } : {}),
        });
      };
      incoming.on('end', () => finish());
      incoming.on('error', (error) => finish(error.message));
      incoming.on('aborted', () => finish('aborted'));
    });
    // A hub that answers before reading the body closes the connection: writing the rest
    // then fails, which is no failure of the answer already received.
    outgoing.on('error', (error) =>
      setTimeout(
        () =>
          done({ status: 0, headers: {}, body: Buffer.alloc(0), text: '', error: error.message }),
        50,
      ),
    );
    if (body !== undefined) outgoing.end(body);
    else outgoing.end();
  });
}

/** A chunk upload body: `[u32 length][32-byte id][bytes]` per chunk (see protocol/frames.ts). */
export function chunkFrames(chunks: readonly { id: string; bytes: Buffer }[]): Buffer {
  return Buffer.concat(chunks.flatMap((c) => [chunkFrameHead(c.id, c.bytes.length), c.bytes]));
}

/** Splits a chunk download (`[u32 length][32-byte id][bytes]`...) into its chunks. */
export function parseChunkFrames(body: Buffer): { id: string; bytes: Buffer }[] {
  const out: { id: string; bytes: Buffer }[] = [];
  let at = 0;
  while (at + 4 <= body.length) {
    const length = body.readUInt32BE(at);
    const frame = body.subarray(at + 4, at + 4 + length);
    out.push({ id: frame.subarray(0, 32).toString('hex'), bytes: frame.subarray(32) });
    at += 4 + length;
  }
  return out;
}

/** True when `text` is the hub's error body: `{ error: { code, message } }` with a known code. */
export function isTandemError(text: string): boolean {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    return (
      typeof body === 'object' &&
      body !== null &&
      typeof body.error === 'object' &&
      body.error !== null &&
      typeof body.error.code === 'string' &&
      Object.hasOwn(ERRORS, body.error.code) &&
      typeof body.error.message === 'string' &&
      body.error.message.length > 0
    );
  } catch {
    return false;
  }
}

/** The error code of a hub error body, or undefined. */
export function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** What a WebSocket received, in order, with the time each message arrived. */
export interface SocketLog {
  readonly messages: { at: number; text: string; data: { type?: string; workspace?: string } }[];
  /** Resolves with the close code and reason when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
}

export type SocketOutcome =
  | ({ readonly open: true; readonly ws: WebSocket } & SocketLog)
  | {
      readonly open: false;
      readonly status: number;
      readonly body: string;
      readonly error?: string;
    };

/**
 * Opens the hub's event socket (`ws://…/api/v1/events`), listening from the first byte so no
 * message is missed. Resolves once it is open, or with the HTTP answer that refused it.
 */
export function openSocket(
  base: string,
  options: { headers?: Readonly<Record<string, string>>; query?: string } = {},
): Promise<SocketOutcome> {
  const url = `${base.replace(/^http/, 'ws')}/api/v1/events${options.query ?? ''}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { ...options.headers } });
    const messages: SocketLog['messages'] = [];
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
    );
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      let parsed: { type?: string; workspace?: string } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // kept as text
      }
      messages.push({ at: Date.now(), text, data: parsed });
    });
    ws.on('open', () => resolve({ open: true, ws, messages, closed }));
    ws.on('unexpected-response', (request, response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        // The client closes its side: a refused upgrade must not hold a connection.
        request.destroy();
        resolve({
          open: false,
          status: response.statusCode ?? 0,
          body: Buffer.concat(parts).toString('utf8'),
        });
      });
    });
    ws.on('error', (error) => resolve({ open: false, status: 0, body: '', error: error.message }));
  });
}

/** Waits until `probe` is true, or `timeoutMs` passed; returns whether it became true. */
export async function until(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Sends a WebSocket upgrade request on a raw connection and reports the HTTP answer, and
 * whether the hub closed the connection within `closeWithinMs` of answering.
 */
export function rawUpgrade(
  base: string,
  headers: Readonly<Record<string, string>>,
  closeWithinMs: number,
): Promise<{ head: string; closedByHub: boolean }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = '';
    let answered = false;
    let closedByHub = false;
    socket.on('error', reject);
    socket.on('end', () => {
      closedByHub = true;
    });
    socket.on('close', () => {
      closedByHub = true;
    });
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      if (answered || !received.includes('\r\n\r\n')) return;
      answered = true;
      setTimeout(() => {
        const closed = closedByHub;
        socket.destroy();
        resolve({ head: received, closedByHub: closed });
      }, closeWithinMs);
    });
    const lines = [
      'GET /api/v1/events HTTP/1.1',
      `Host: ${url.host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/**
 * Writes `text` as it is on a raw connection (for requests no HTTP client would send) and
 * returns what came back within `waitMs`: the status and the body after the head.
 */
export function rawHttp(
  base: string,
  text: string,
  waitMs = 1000,
): Promise<{ status: number; head: string; body: string }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = '';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const split = received.indexOf('\r\n\r\n');
      const head = split < 0 ? received : received.slice(0, split);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: split < 0 ? '' : dechunk(head, received.slice(split + 4)),
      });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (data: Buffer) => (received += data.toString('utf8')));
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(text);
  });
}

/** The body of a response with `Transfer-Encoding: chunked`, as one string. */
function dechunk(head: string, body: string): string {
  if (!/^transfer-encoding:\s*chunked/im.test(head)) return body;
  let out = '';
  let rest = body;
  for (;;) {
    const line = rest.indexOf('\r\n');
    if (line < 0) return out;
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

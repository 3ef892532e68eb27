/**
 * `/metrics` on an address of its own, without a token: for a Prometheus that scrapes over a
 * private network or loopback, where giving it an administrator's device token is not
 * wanted. It answers `GET /metrics` (and HEAD) and nothing else; whoever can reach the
 * address can read the counts, so it listens on loopback unless told otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { HubApp } from '../app.js';
import { metricsText } from '../routes/operations.js';

export interface MetricsListener {
  /** `http://HOST:PORT/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens; rejects as `listen` does (EADDRINUSE and the like). */
export async function startMetricsListener(
  app: HubApp,
  host: string,
  port: number,
): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('only GET /metrics is served here\n');
      return;
    }
    metricsText(app.hub).then(
      (text) => {
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'metrics listener failed');
        response.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/metrics`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

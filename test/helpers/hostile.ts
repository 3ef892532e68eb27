/**
 * A hub made hostile for unit tests: the real hub app behind a transport that rewrites what
 * the hub answers (feed rows, manifests) before the agent sees it, and a filesystem that
 * records every path the agent changes.
 */
import type { Transport, TransportRequest, TransportResponse } from '../../src/agent/hub-client.js';
import type { FileSystem } from '../../src/fs/file-system.js';
import type { MemoryFileSystem } from '../../src/fs/memory-file-system.js';

/** Rewrites a JSON answer of the hub; `path` is the request's path and query. */
export type Tamper = (path: string, body: unknown) => unknown;

export class TamperingTransport implements Transport {
  readonly hub: string;
  /** What was asked, in order (method and path). */
  readonly requests: string[] = [];
  tamper: Tamper = (_path, body) => body;

  constructor(private readonly inner: Transport) {
    this.hub = inner.hub;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    this.requests.push(`${request.method} ${request.path}`);
    const response = await this.inner.send(request);
    return {
      status: response.status,
      json: async () => this.tamper(request.path, await response.json()),
      stream: () => response.stream(),
    };
  }
}

/** The methods of a FileSystem that change something. */
const WRITES = ['createWrite', 'rename', 'unlink', 'rmdir', 'mkdir', 'symlink', 'removeTree'];

/** Records the paths every changing call names (both of a rename) into `written`. */
export function recordWrites(fs: MemoryFileSystem, written: string[]): void {
  const target = fs as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of WRITES) {
    const original = target[name]!.bind(fs);
    target[name] = (...args: unknown[]) => {
      if (name === 'rename') written.push(args[0] as string, args[1] as string);
      else if (name === 'symlink') written.push(args[1] as string);
      else written.push(args[0] as string);
      return original(...args);
    };
  }
  void (fs satisfies FileSystem);
}

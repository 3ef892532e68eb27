/**
 * The hub's metrics in Prometheus' text exposition format (version 0.0.4). Counters live in
 * this process: each hub behind a load balancer exposes its own, and Prometheus adds them up
 * (see docs/decisions.md). Nothing here holds a request's data, only counts.
 */
import type { Socket } from 'node:net';
import type { HubStats } from '../context.js';
import type { StoreUsage } from '../../store/chunk-store.js';

/** Commit latency buckets, in seconds: from a small batch on a fast disk to a huge one. */
export const COMMIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A cumulative histogram with fixed buckets. */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.count++;
    this.sum += value;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++;
  }
}

/**
 * What the hub counts while it runs. `requests` is keyed by method, route pattern (never the
 * URL itself: ids would make a series per object) and status; a request that matched no route
 * counts under the route `unmatched`.
 */
export class HubMetrics {
  private readonly requests = new Map<string, { labels: Labels; count: number }>();
  readonly commitSeconds = new Histogram(COMMIT_BUCKETS);
  /** Event sockets open now (agents and browsers). */
  sockets = 0;
  private readonly connections = new Set<Socket>();
  /** Bytes of connections already closed. */
  private closedIn = 0;
  private closedOut = 0;
  readonly startedAt = Date.now();

  countRequest(method: string, route: string, status: number): void {
    const key = `${method} ${route} ${status}`;
    const entry = this.requests.get(key);
    if (entry) entry.count++;
    else this.requests.set(key, { labels: { method, route, status: String(status) }, count: 1 });
  }

  /** Counts a connection's bytes in and out, while it is open and once it closed. */
  track(socket: Socket): void {
    this.connections.add(socket);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.closedIn += socket.bytesRead;
      this.closedOut += socket.bytesWritten;
    });
  }

  /** Bytes received and sent on every connection since the hub started (TLS: on the wire). */
  networkBytes(): { in: number; out: number } {
    let bytesIn = this.closedIn;
    let bytesOut = this.closedOut;
    for (const socket of this.connections) {
      bytesIn += socket.bytesRead;
      bytesOut += socket.bytesWritten;
    }
    return { in: bytesIn, out: bytesOut };
  }

  /** The text Prometheus scrapes. */
  render(stats: HubStats, store: StoreUsage | undefined): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const sample = (name: string, value: number, labels: Labels = {}) =>
      out.push(`${name}${labelText(labels)} ${formatNumber(value)}`);

    family('tandem_http_requests_total', 'counter', 'HTTP requests answered, by route and status');
    for (const { labels, count } of [...this.requests.values()].sort(byLabels))
      sample('tandem_http_requests_total', count, labels);

    family(
      'tandem_commit_duration_seconds',
      'histogram',
      'Time from a commit request arriving to its answer (durable by then)',
    );
    const h = this.commitSeconds;
    h.buckets.forEach((le, i) =>
      sample('tandem_commit_duration_seconds_bucket', h.counts[i]!, { le: String(le) }),
    );
    sample('tandem_commit_duration_seconds_bucket', h.count, { le: '+Inf' });
    sample('tandem_commit_duration_seconds_sum', h.sum);
    sample('tandem_commit_duration_seconds_count', h.count);

    family('tandem_commits_total', 'counter', 'Commits applied');
    sample('tandem_commits_total', stats.commits);
    family('tandem_commit_ops_total', 'counter', 'Operations in commits applied');
    sample('tandem_commit_ops_total', stats.ops);

    family('tandem_connected_agents', 'gauge', 'Event sockets open now (agents and browsers)');
    sample('tandem_connected_agents', this.sockets);

    const network = this.networkBytes();
    family('tandem_network_received_bytes_total', 'counter', 'Bytes received on all connections');
    sample('tandem_network_received_bytes_total', network.in);
    family('tandem_network_sent_bytes_total', 'counter', 'Bytes sent on all connections');
    sample('tandem_network_sent_bytes_total', network.out);
    family('tandem_chunks_received_total', 'counter', 'Chunks uploaded and stored');
    sample('tandem_chunks_received_total', stats.chunksIn);
    family('tandem_chunk_received_bytes_total', 'counter', 'Bytes of chunks uploaded and stored');
    sample('tandem_chunk_received_bytes_total', stats.chunkBytesIn);
    family('tandem_chunks_sent_total', 'counter', 'Chunks downloaded');
    sample('tandem_chunks_sent_total', stats.chunksOut);
    family('tandem_chunk_sent_bytes_total', 'counter', 'Bytes of chunks downloaded');
    sample('tandem_chunk_sent_bytes_total', stats.chunkBytesOut);

    // A store that cannot say (it is down: see /health) leaves these out rather than say 0.
    if (store) {
      family('tandem_chunk_store_chunks', 'gauge', 'Chunks stored (each once, however shared)');
      sample('tandem_chunk_store_chunks', store.chunks);
      family('tandem_chunk_store_bytes', 'gauge', 'Bytes of the chunks stored');
      sample('tandem_chunk_store_bytes', store.bytes);
    }

    family('process_resident_memory_bytes', 'gauge', 'Resident memory of the hub process');
    sample('process_resident_memory_bytes', process.memoryUsage().rss);
    family('process_start_time_seconds', 'gauge', 'When the hub process started, Unix time');
    sample('process_start_time_seconds', Math.round(this.startedAt / 1000));
    return `${out.join('\n')}\n`;
  }
}

type Labels = Readonly<Record<string, string>>;

const byLabels = (a: { labels: Labels }, b: { labels: Labels }) =>
  labelText(a.labels) < labelText(b.labels) ? -1 : 1;

/** `{a="x",b="y"}`, with values escaped as the format says (backslash, quote, newline). */
function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** What every hub service needs: the database, the chunk store, the event bus and a clock. */
import type { Kysely } from 'kysely';
import type { ChunkStore } from '../store/chunk-store.js';
import type { Database } from './db/schema.js';
import type { EventBus } from './event-bus.js';
import type { HubMetrics } from './ops/metrics.js';

export interface HubContext {
  readonly db: Kysely<Database>;
  /** Throws when the database's file is no longer the one opened (for /health). */
  readonly checkDatabase?: () => Promise<void>;
  readonly chunks: ChunkStore;
  readonly events: EventBus;
  /** How long an uploaded chunk counts as its workspace's without a commit (services/chunks.ts). */
  readonly uploadLeaseMs: number;
  readonly now: () => number;
  /** Counters since this process started, for `GET /api/v1/stats` and the benchmark. */
  readonly stats: HubStats;
  /** What `GET /metrics` reports: requests, commit latency, sockets, bytes (ops/metrics.ts). */
  readonly metrics: HubMetrics;
}

export interface HubStats {
  chunksIn: number;
  chunkBytesIn: number;
  chunksOut: number;
  chunkBytesOut: number;
  commits: number;
  ops: number;
}

export function newStats(): HubStats {
  return { chunksIn: 0, chunkBytesIn: 0, chunksOut: 0, chunkBytesOut: 0, commits: 0, ops: 0 };
}

/** Who is calling: resolved from the device token on every request. */
export interface Caller {
  readonly userId: string;
  readonly userName: string;
  readonly deviceId: string;
  readonly deviceName: string;
  /** A hub administrator (the first user of a hub). */
  readonly admin: boolean;
}

/**
 * An in-process world for property and unit tests: the real hub app (SQLite in memory,
 * chunks in memory) reached through Fastify's inject, and agents on in-memory filesystems.
 */
import { SyncEngine } from '../../src/agent/engine.js';
import {
  HubClient,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from '../../src/agent/hub-client.js';
import { StateStore } from '../../src/agent/state-store.js';
import { MemoryFileSystem, type MemoryFileSystemOptions } from '../../src/fs/memory-file-system.js';
import { buildApp, type HubApp } from '../../src/server/app.js';
import { openDatabase } from '../../src/server/db/open.js';
import { MemoryChunkStore } from '../../src/store/chunk-store.js';
import { FEATURES_HEADER, type Feature } from '../../src/protocol/api.js';

export class InjectTransport implements Transport {
  readonly hub = 'inject://hub';
  constructor(private readonly app: HubApp) {}

  async send(request: TransportRequest): Promise<TransportResponse> {
    const headers: Record<string, string> = {};
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    if (request.features) headers[FEATURES_HEADER] = request.features;
    let payload: string | Buffer | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(request.json);
    } else if (request.bytes) {
      headers['content-type'] = 'application/octet-stream';
      payload = Buffer.concat(request.bytes);
    }
    const response = await this.app.inject({
      method: request.method,
      url: request.path,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    const raw = response.rawPayload;
    return {
      status: response.statusCode,
      json: async () => JSON.parse(raw.toString('utf8')),
      stream: () =>
        (async function* () {
          yield raw;
        })(),
    };
  }
}

export interface SimHub {
  app: HubApp;
  transport: InjectTransport;
  close(): Promise<void>;
}

export async function startSimHub(now: () => number = Date.now): Promise<SimHub> {
  const { db } = await openDatabase({ kind: 'sqlite', file: ':memory:' });
  const chunks = new MemoryChunkStore();
  const app = await buildApp({
    db,
    chunks,
    now,
    signInLimits: { perAccountAddress: 1_000_000, perAddress: 1_000_000 },
  });
  return {
    app,
    transport: new InjectTransport(app),
    close: async () => {
      await app.close();
      await db.destroy();
    },
  };
}

export interface SimDevice {
  name: string;
  fs: MemoryFileSystem;
  root: string;
  engine: SyncEngine;
  store: StateStore;
}

/**
 * Registers (or logs in) a user, and creates the workspace if `create`. With `features`,
 * the device says it understands only those (`[]`: a device of the release before modes).
 */
export async function simAccount(
  hub: SimHub,
  user: string,
  device: string,
  register: boolean,
  features?: readonly Feature[],
) {
  const anonymous = new HubClient(hub.transport);
  const auth = register
    ? await anonymous.register({ user, password: 'correct horse', deviceName: device })
    : await anonymous.login({ user, password: 'correct horse', deviceName: device });
  return new HubClient(hub.transport, auth.token, features);
}

/**
 * An agent on an in-memory disk (case-insensitive with `fsOptions`). Its local deletions are sent at once unless
 * `deleteSettleMs` says otherwise: simulated clocks jump by call, not by time, so the hold
 * would only add rounds (it has tests of its own, with a clock they drive).
 */
export async function simDevice(
  hub: SimHub,
  client: HubClient,
  workspaceId: string,
  name: string,
  now: () => number,
  deleteSettleMs = 0,
  fsOptions: MemoryFileSystemOptions = {},
  /** Where the engine's log lines go (default: nowhere, or the console with TANDEM_SIM_LOG). */
  logTo?: (line: string) => void,
): Promise<SimDevice> {
  const fs = new MemoryFileSystem(now, fsOptions);
  const root = `/${name}`;
  await fs.mkdir(root);
  await fs.mkdir(`${root}/.tandem`);
  const store = new StateStore(':memory:');
  const log =
    logTo ??
    (process.env.TANDEM_SIM_LOG ? (line: string) => console.log(`[${name}] ${line}`) : undefined);
  const engine = new SyncEngine({
    fs,
    root,
    store,
    client,
    workspaceId,
    deviceName: name,
    now,
    deleteSettleMs,
    ...(log ? { log } : {}),
  });
  await engine.prepare();
  return { name, fs, root, engine, store };
}

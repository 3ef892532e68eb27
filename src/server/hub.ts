/**
 * Opens the hub's storage under a data directory and builds the app on it. The embedded
 * default: metadata in `DATA/tandem.db` (SQLite), chunks in `DATA/chunks/`.
 */
import { mkdir } from 'node:fs/promises';
import type { RegistrationMode } from '../protocol/api.js';
import { join } from 'node:path';
import { DiskChunkStore } from '../store/disk-chunk-store.js';
import { buildApp, type HubApp, type LogLevel } from './app.js';
import { openDatabase } from './db/open.js';

export interface HubOptions {
  readonly dataDir: string;
  /** See AppOptions.logLevel (default `info`). */
  readonly logLevel?: LogLevel;
  /** Who may register (see RegistrationMode); default `open`. */
  readonly registration?: RegistrationMode;
  /** Serve https and wss with this certificate and key (PEM; see tls.ts); plain http without. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** Opens storage and builds the app; `app.close()` also closes the storage. */
export async function openHub(options: HubOptions): Promise<HubApp> {
  await mkdir(options.dataDir, { recursive: true });
  const { db, checkFile } = await openDatabase({
    kind: 'sqlite',
    file: join(options.dataDir, 'tandem.db'),
  });
  const chunks = await DiskChunkStore.open(join(options.dataDir, 'chunks'));
  const app = await buildApp({
    db,
    checkDatabase: checkFile,
    chunks,
    logLevel: options.logLevel ?? 'info',
    ...(options.registration ? { registration: options.registration } : {}),
    ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
  });
  app.addHook('onClose', async () => {
    await db.destroy();
    await chunks.close();
  });
  return app;
}

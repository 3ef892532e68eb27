/**
 * The hub's health: whether its database and its chunk store answer now. What a load
 * balancer, a container orchestrator or a monitoring probe asks before sending traffic.
 */
import { sql } from 'kysely';
import type { HubContext } from '../context.js';

export const HEALTH_PARTS = ['database', 'chunkStore'] as const;
export type HealthPart = (typeof HEALTH_PARTS)[number];

export interface PartHealth {
  readonly status: 'up' | 'down';
  /** How long the check took, in milliseconds. */
  readonly ms: number;
}

export interface HubHealth {
  /** True when every part is up. */
  readonly ok: boolean;
  readonly status: 'up' | 'down';
  readonly checks: Readonly<Record<HealthPart, PartHealth>>;
}

/** A check that has not answered by then counts as down (a hung disk or database). */
export const HEALTH_TIMEOUT_MS = 5_000;

/**
 * Checks every part at once, each bounded by HEALTH_TIMEOUT_MS. Never throws: a part that
 * fails is `down`, and why is passed to `failed` (for the log; the reason may name internal
 * paths, so it is not for the answer). Writes nothing that stays.
 */
export async function checkHealth(
  ctx: HubContext,
  failed: (part: HealthPart, error: unknown) => void,
): Promise<HubHealth> {
  const probes: Record<HealthPart, () => Promise<unknown>> = {
    // A real table, not `select 1`: a database emptied or replaced under the hub is down too.
    // And the file itself: deleted or replaced, SQLite still answers from what it has open.
    database: async () => {
      await sql`select count(*) from users where id = ''`.execute(ctx.db);
      await ctx.checkDatabase?.();
    },
    chunkStore: () => ctx.chunks.check(),
  };
  const results = await Promise.all(
    HEALTH_PARTS.map(async (part): Promise<[HealthPart, PartHealth]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          probes[part](),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)),
              HEALTH_TIMEOUT_MS,
            );
          }),
        ]);
        return [part, { status: 'up', ms: elapsed(started) }];
      } catch (error) {
        failed(part, error);
        return [part, { status: 'down', ms: elapsed(started) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checks = Object.fromEntries(results) as Record<HealthPart, PartHealth>;
  const ok = results.every(([, health]) => health.status === 'up');
  return { ok, status: ok ? 'up' : 'down', checks };
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

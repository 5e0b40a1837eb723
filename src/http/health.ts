/**
 * The health check behind `GET /_berth/health` (src/http/routes/health.ts): whether this instance can reach its storage and,
 * when configured, Redis. 200 when every configured dependency answers, 503 when one does not, so
 * a load balancer takes an instance out while its storage or Redis is unreachable. Unauthenticated,
 * like the load balancer that calls it; it reveals nothing but reachability.
 *
 *   {"status":"ok","checks":{"storage":{"status":"ok","driver":"s3","ms":3},
 *                            "redis":{"status":"ok","ms":1}}}
 *
 * A failing check has `"status":"error"` and an `error` message; an unconfigured Redis is
 * `{"status":"disabled"}` and does not fail the check.
 */
import type { StorageDriver } from '../storage/driver.js';
import { pingRedis, type RedisClient } from '../shared/redis.js';

/** A dependency slower than this to answer counts as unreachable. */
const PROBE_TIMEOUT_MS = 5_000;

export interface CheckResult {
  status: 'ok' | 'error' | 'disabled';
  ms?: number;
  error?: string;
  driver?: string;
}

async function timed(probe: () => Promise<void>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { status: 'ok', ms: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      status: 'error',
      ms: Math.round(performance.now() - started),
      error: (error as Error).message || String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkHealth(
  driver: StorageDriver,
  redis: RedisClient | undefined,
): Promise<{ healthy: boolean; body: unknown }> {
  const [storage, redisCheck] = await Promise.all([
    timed(() => driver.ping()).then((result) => ({ ...result, driver: driver.name })),
    redis ? timed(() => pingRedis(redis, PROBE_TIMEOUT_MS)) : Promise.resolve<CheckResult>({ status: 'disabled' }),
  ]);
  const healthy = storage.status === 'ok' && redisCheck.status !== 'error';
  return { healthy, body: { status: healthy ? 'ok' : 'error', checks: { storage, redis: redisCheck } } };
}

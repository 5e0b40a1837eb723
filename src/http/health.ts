/**
 * The health check behind `GET /_berth/health` (src/http/routes/health.ts), the endpoint for a
 * load balancer: whether this instance can serve. 200 while its storage answers, 503 when it
 * does not (the instance can serve nothing then). Redis is reported but does not decide: an
 * instance without Redis still serves pulls, manifests and tags, so a Redis outage, which every
 * instance sees at once, must not take the whole fleet out. Unauthenticated, like the load
 * balancer that calls it; it reveals nothing but reachability.
 *
 *   {"status":"ok","checks":{"storage":{"status":"ok","driver":"s3","ms":3},
 *                            "redis":{"status":"ok","ms":1}}}
 *
 * A failing check has `"status":"error"` and an `error` message. With Redis failing and storage
 * answering, the status is `"degraded"` and the Redis check says what does not work meanwhile
 * (`impact`). An unconfigured Redis is `{"status":"disabled"}`.
 */
import type { StorageDriver } from '../storage/driver.js';
import { storageSerialisesUploads } from '../registry/upload-file-lock.js';
import { pingRedis, type RedisClient } from '../shared/redis.js';

/** A dependency slower than this to answer counts as unreachable. */
const PROBE_TIMEOUT_MS = 5_000;

export interface CheckResult {
  status: 'ok' | 'error' | 'disabled';
  ms?: number;
  error?: string;
  driver?: string;
  /** What a failing dependency stops, while the instance goes on serving the rest. */
  impact?: string;
}

export type HealthStatus = 'ok' | 'degraded' | 'error';

/** What a Redis outage stops on this storage (src/app.ts chooses the upload lock's behaviour). */
function redisImpact(driver: StorageDriver): string {
  const uploads = storageSerialisesUploads(driver)
    ? 'blob uploads go on, kept one at a time by lock files in the storage'
    : `blob uploads are refused with 503 and Retry-After (the ${driver.name} storage offers no exclusive create to lock an upload with)`;
  return `pulls, manifests and tags are served; ${uploads}; rate limits count per instance; notifications are delivered under a lease file in storage`;
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
): Promise<{ healthy: boolean; status: HealthStatus; body: unknown }> {
  const [storage, redisCheck] = await Promise.all([
    timed(() => driver.ping()).then((result) => ({ ...result, driver: driver.name })),
    redis ? timed(() => pingRedis(redis, PROBE_TIMEOUT_MS)) : Promise.resolve<CheckResult>({ status: 'disabled' }),
  ]);
  if (redisCheck.status === 'error') redisCheck.impact = redisImpact(driver);
  const healthy = storage.status === 'ok';
  const status: HealthStatus = !healthy ? 'error' : redisCheck.status === 'error' ? 'degraded' : 'ok';
  return { healthy, status, body: { status, checks: { storage, redis: redisCheck } } };
}

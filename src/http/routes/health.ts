/**
 * `GET`/`HEAD /_berth/health` (also under `http.prefix`): unauthenticated, for load balancers;
 * 200 while storage answers (`"status":"degraded"` when Redis does not), 503 when storage does
 * not (src/http/health.ts).
 */
import type { StorageDriver } from '../../storage/driver.js';
import type { RedisClient } from '../../shared/redis.js';
import type { Endpoint, EndpointHandler } from '../endpoint.js';
import { checkHealth } from '../health.js';

export function healthEndpoint(driver: StorageDriver, redis: RedisClient | undefined): Endpoint {
  const answer: EndpointHandler = async (request, reply) => {
    const { healthy, body } = await checkHealth(driver, redis);
    reply
      .code(healthy ? 200 : 503)
      .header('Cache-Control', 'no-store')
      .type('application/json');
    return reply.send(request.method === 'HEAD' ? undefined : JSON.stringify(body));
  };
  return { GET: answer, HEAD: answer };
}

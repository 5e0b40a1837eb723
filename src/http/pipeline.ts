/**
 * The request pipeline: the order in which every request is read, guarded and counted before a
 * handler runs. One reading of the request serves all of them:
 *
 *   1. read the request (src/request/state.ts): the target parsed once (percent-decoding,
 *      absolute-form, dot and empty segments), its route among every URL family, the client's
 *      address and origin; a target the parser refuses ends here with 400; the request is
 *      counted in the metrics by its route (src/metrics/http.ts), and the registry API answers
 *      503 while a check of the `health` section fails (health-gate.ts);
 *   2. rate limits that need no caller: failed logins, token requests (src/ratelimit);
 *   3. the access rules (src/auth): who the caller is and whether they may go on;
 *   4. rate limits per caller, and the in-flight upload slot;
 *   5. the dispatcher (dispatch.ts) calls the route's handler.
 *
 * A refusal at any step is thrown and leaves through src/http/errors.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Guard } from '../auth/index.js';
import type { RateLimits } from '../ratelimit/index.js';
import type { TrustedProxies } from '../request/client.js';
import type { RouteTable } from '../request/routes.js';
import { readRequest, type RequestState } from '../request/state.js';
import type { HealthMonitor } from '../health/index.js';
import { countRequest } from '../metrics/http.js';
import { healthGate } from './health-gate.js';
import type { Tracing } from '../tracing/index.js';

export interface PipelineSteps {
  routes: RouteTable;
  proxies: TrustedProxies;
  rateLimits: RateLimits;
  guard: Guard;
  /** Count requests in Distribution's HTTP metrics (`http.debug.prometheus.enabled`). */
  metrics?: boolean;
  health?: HealthMonitor;
  /** Traces (src/tracing): the request runs inside its span from the first hook on. */
  tracing?: Tracing;
}

export function installPipeline(
  app: FastifyInstance,
  { routes, proxies, rateLimits, guard, metrics, health, tracing }: PipelineSteps,
): void {
  // Typed request state, set by the first hook for every request (null only until then).
  app.decorateRequest('berth', null as unknown as RequestState);
  if (tracing) app.addHook('onRequest', tracing.hook);
  app.addHook('onRequest', async (request) => {
    request.berth = readRequest(request.raw, routes, proxies);
  });
  if (metrics) app.addHook('onRequest', async (request, reply) => countRequest(request, reply));
  if (health?.configured) app.addHook('onRequest', healthGate(health));
  if (rateLimits.beforeAuth) app.addHook('onRequest', rateLimits.beforeAuth);
  app.addHook('onRequest', guard);
  if (rateLimits.afterAuth) app.addHook('onRequest', rateLimits.afterAuth);
}

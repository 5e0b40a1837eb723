/**
 * While a check of the `health` section fails, the registry API answers 503 UNAVAILABLE, as
 * Distribution's does (its health.Handler wraps the whole API), so a load balancer that probes
 * `/v2/` takes the instance out. Berth's own endpoints (`/_berth/…`, the token server, the UI)
 * keep answering; `/debug/health` on the debug listener says which check fails.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../api/errors.js';
import type { HealthMonitor } from '../health/index.js';

export function healthGate(health: HealthMonitor) {
  return async (request: FastifyRequest): Promise<void> => {
    if (health.healthy || request.berth.route.family !== 'registry') return;
    throw new RegistryError('UNAVAILABLE', 'service unavailable', 'health check failed: please see /debug/health');
  };
}

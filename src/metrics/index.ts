/** The metrics module (docs/observability.md): families register with `metricsRegistry`. */
import { collectDefaultMetrics } from './prom-client.js';
import { metricsRegistry } from './registry.js';

export { counter, gauge, histogram, metricsRegistry, timed } from './registry.js';

let processMetrics = false;

/**
 * Node's process metrics (prom-client's defaults: CPU, memory, file descriptors, event-loop
 * delay as nodejs_eventloop_lag_*, garbage collection), once per process.
 */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: metricsRegistry });
  // Gauges named like counters, which promtool refuses; each has a twin without the suffix.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    metricsRegistry.removeSingleMetric(name);
}

/** The text Prometheus scrapes from this process alone. */
export const metricsText = (): Promise<string> => metricsRegistry.metrics();
export const METRICS_CONTENT_TYPE = metricsRegistry.contentType;

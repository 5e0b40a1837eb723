/**
 * prom-client, required piece by piece. Its index loads, on import, its default process metrics
 * (and with them @opentelemetry/api), the Pushgateway (https, zlib) and the cluster aggregator:
 * about 80 modules and 2 MB of heap that a server with metrics off has no use for. The registry
 * and the family classes come from their own files, which need little else; the default metrics
 * and the aggregator are required when first used. prom-client is pinned to one version
 * (package.json), so the files these paths name stay where they are.
 */
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = load('prom-client/lib/counter') as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = load('prom-client/lib/gauge') as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = load('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;

export function collectDefaultMetrics(
  config: Prom.DefaultMetricsCollectorConfiguration<Prom.RegistryContentType>,
): void {
  (load('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics)(config);
}

/** prom-client's AggregatorRegistry, which sums several processes' metrics. */
export function aggregatorRegistry(): typeof Prom.AggregatorRegistry {
  return load('prom-client/lib/cluster') as typeof Prom.AggregatorRegistry;
}

/**
 * The process's metrics (docs/observability.md): one prom-client registry that every module
 * registers its families with, served by the debug listener at `http.debug.prometheus.path`.
 * Families are registered once per process: asking again for a name returns the family already
 * registered, so a module may declare its metrics at the top of its file, and several servers in
 * one process (as in tests) count into the same families.
 *
 * Names follow Prometheus' conventions: `registry_…` for Distribution's own families (same names,
 * labels and buckets, so dashboards made for Distribution work), `berth_…` for Berth's.
 */
import type { CounterConfiguration, GaugeConfiguration, HistogramConfiguration } from 'prom-client';
import { Counter, Gauge, Histogram, Registry } from './prom-client.js';

export const metricsRegistry = new Registry();

function once<T>(name: string, make: () => T): T {
  return (metricsRegistry.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  return once(config.name, () => new Counter({ ...config, registers: [metricsRegistry] }));
}

export function gauge<L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return once(config.name, () => new Gauge({ ...config, registers: [metricsRegistry] }));
}

export function histogram<L extends string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
  return once(config.name, () => new Histogram({ ...config, registers: [metricsRegistry] }));
}

/** Times an operation into a histogram (seconds), whether it resolves or throws. */
export async function timed<T>(observe: (seconds: number) => void, operation: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await operation();
  } finally {
    observe((performance.now() - started) / 1000);
  }
}

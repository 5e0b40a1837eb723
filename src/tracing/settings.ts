/**
 * Whether Berth sends traces, from `berth.tracing` and the standard OpenTelemetry variables:
 * on with `berth.tracing.enabled` or `.endpoint`, with `OTEL_TRACES_EXPORTER=otlp`, or with an
 * OTLP endpoint variable set; off with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`,
 * whatever else says. Deciding loads nothing: the OpenTelemetry packages are imported only once
 * tracing is on (src/tracing/provider.ts).
 */
import type { TracingConfig } from '../config/observability.js';

export interface TracingSettings {
  /** The OTLP/HTTP traces URL; undefined leaves it to the exporter (the OTEL_* variables, else localhost:4318). */
  endpoint?: string;
  serviceName: string;
}

export function tracingSettings(
  config: TracingConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase());
  if (exporters.includes('none')) return undefined;
  const on =
    config?.enabled === true ||
    config?.endpoint !== undefined ||
    exporters.includes('otlp') ||
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) ||
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!on) return undefined;
  return { endpoint: config?.endpoint, serviceName: config?.servicename ?? env.OTEL_SERVICE_NAME ?? 'berth' };
}

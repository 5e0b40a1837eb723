/**
 * Observability keys (docs/observability.md): Distribution's `http.debug` (the debug listener
 * and its Prometheus metrics) and `health` (periodic checks that turn the registry API to 503),
 * and Berth's `berth.tracing` (OpenTelemetry traces, also set by the standard OTEL_* variables).
 */
import { z } from 'zod';
import { parseTcpAddress } from './address.js';
import { count, duration, flag, text } from './values.js';

/** Distribution's interval when a check names none. */
const DEFAULT_INTERVAL_MS = 10_000;
const interval = duration
  .refine((value) => value > 0, 'must be longer than 0 (for example 10s)')
  .default(DEFAULT_INTERVAL_MS);
/** Failures in a row before a check is failing; 0 and 1 both mean the first failure. */
const threshold = count.default(0);

/** `http.debug`: the debug listener. */
export const httpDebug = z.strictObject({
  addr: text.refine((value) => parseTcpAddress(value) !== undefined, 'must be host:port (for example localhost:5001)'),
  prometheus: z
    .strictObject({
      enabled: flag.default(false),
      path: text.refine((value) => value.startsWith('/'), 'must start with "/"').default('/metrics'),
    })
    .optional(),
  tls: z.unknown().optional(),
});

/** Header values are lists in Distribution (`Authorization: [Basic …]`); a single value is taken too. */
const headerValues = z.union([text.transform((value) => [value]), z.array(text)]);

export const healthSection = z.strictObject({
  storagedriver: z.strictObject({ enabled: flag.default(false), interval, threshold }).optional(),
  file: z.array(z.strictObject({ file: text, interval })).default([]),
  http: z
    .array(
      z.strictObject({
        uri: text.refine((value) => /^https?:\/\//.test(value), 'must be an http:// or https:// URL'),
        headers: z.record(z.string(), headerValues).default({}),
        statuscode: z.coerce.number().int().min(100).max(599).default(200),
        timeout: duration.optional(),
        interval,
        threshold,
      }),
    )
    .default([]),
  tcp: z.array(z.strictObject({ addr: text, timeout: duration.optional(), interval, threshold })).default([]),
});

/** `berth.tracing`: OpenTelemetry traces over OTLP/HTTP; off unless this or the OTEL_* variables ask. */
export const berthTracing = z.strictObject({
  enabled: flag.default(false),
  /** The OTLP/HTTP traces URL; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else http://localhost:4318/v1/traces. */
  endpoint: text.optional(),
  /** `service.name` of the spans; default: OTEL_SERVICE_NAME, else "berth". */
  servicename: text.optional(),
});

export type HttpDebugConfig = z.infer<typeof httpDebug>;
export type HealthConfig = z.infer<typeof healthSection>;
export type TracingConfig = z.infer<typeof berthTracing>;

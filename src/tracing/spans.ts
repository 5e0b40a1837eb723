/**
 * Spans for the layers below HTTP (storage, S3, Redis, upstream registries): `inSpan` runs an
 * operation in a child span of the active one while tracing is on, and runs it bare otherwise.
 * Only types come from @opentelemetry/api here, so nothing of OpenTelemetry is loaded until
 * src/tracing/provider.ts sets the tracer.
 */
import type { Attributes, Span, Tracer } from '@opentelemetry/api';

interface Active {
  tracer: Tracer;
  /** SpanStatusCode.ERROR, kept here so this module needs no value from the API. */
  errorCode: number;
}

let active: Active | undefined;

/** Set by the provider when tracing starts, cleared when it stops. */
export function setTracer(tracer: Active | undefined): void {
  active = tracer;
}

export function tracingOn(): boolean {
  return active !== undefined;
}

/** Runs `operation` in a span named `name`, a child of the active span; the span ends with it. */
export function inSpan<T>(name: string, attributes: Attributes, operation: (span?: Span) => Promise<T>): Promise<T> {
  if (!active) return operation();
  const { tracer, errorCode } = active;
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await operation(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: errorCode, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

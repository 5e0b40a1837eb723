/**
 * The OpenTelemetry side of tracing, imported (with every @opentelemetry package) only once
 * tracing is on: a tracer provider exporting over OTLP/HTTP in batches, AsyncLocalStorage for
 * the active span, W3C trace context for incoming `traceparent` headers, and the span of each
 * request (children made by src/tracing/spans.ts nest under it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { TracingSettings } from './settings.js';
import { setTracer } from './spans.js';

export interface RequestSpan {
  traceId: string;
  /** Runs the rest of the request (fastify's next hooks and handler) with the span active. */
  run(next: () => void): void;
  /** Ends the span with the route and status, once the response has closed. */
  end(route: string | undefined, status: number): void;
}

export interface TracingRuntime {
  startRequest(request: IncomingMessage, response: ServerResponse): RequestSpan;
  shutdown(): Promise<void>;
}

export function startProvider(settings: TracingSettings): TracingRuntime {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(settings.endpoint ? { url: settings.endpoint } : {}),
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer('berth');
  setTracer({ tracer, errorCode: SpanStatusCode.ERROR });
  return {
    startRequest(request) {
      const parent = propagation.extract(context.active(), request.headers);
      const method = request.method ?? 'GET';
      const span = tracer.startSpan(
        method,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': request.url ?? '/' } },
        parent,
      );
      const active = trace.setSpan(parent, span);
      return {
        traceId: span.spanContext().traceId,
        run: (next) => context.with(active, next),
        end(route, status) {
          if (route) {
            span.updateName(`${method} ${route}`);
            span.setAttribute('http.route', route);
          }
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
    async shutdown() {
      setTracer(undefined);
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

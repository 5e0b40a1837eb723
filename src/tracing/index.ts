/**
 * OpenTelemetry traces (docs/observability.md#traces): a span per request, with children for
 * storage calls, S3 requests, Redis commands and upstream registries (src/tracing/spans.ts), and
 * the trace id in the access log line. Off unless `berth.tracing` or the OTEL_* variables ask
 * (settings.ts); while off, no OpenTelemetry package is loaded.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { TracingRuntime } from './provider.js';
import type { TracingSettings } from './settings.js';

export { tracingSettings } from './settings.js';
export { inSpan, tracingOn } from './spans.js';

const traceIds = new WeakMap<object, string>();

/** The trace id of a request, for its access log line; undefined while tracing is off. */
export function traceIdOf(request: FastifyRequest): string | undefined {
  return traceIds.get(request.raw);
}

export class Tracing {
  private runtime?: TracingRuntime;

  constructor(
    private readonly settings: TracingSettings,
    private readonly routeOf: (request: FastifyRequest) => string | undefined,
  ) {}

  /** Loads OpenTelemetry and starts exporting; requests before then are not traced. */
  async start(): Promise<void> {
    if (this.runtime) return;
    const { startProvider } = await import('./provider.js');
    this.runtime = startProvider(this.settings);
  }

  /** fastify's first onRequest hook: the rest of the request runs inside its span. */
  readonly hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const runtime = this.runtime;
    if (!runtime) {
      done();
      return;
    }
    const span = runtime.startRequest(request.raw, reply.raw);
    traceIds.set(request.raw, span.traceId);
    reply.raw.once('close', () => span.end(this.routeOf(request), reply.raw.statusCode));
    span.run(() => done());
  };

  /** Sends the spans still buffered, then stops. */
  async close(): Promise<void> {
    const runtime = this.runtime;
    this.runtime = undefined;
    await runtime?.shutdown();
  }
}

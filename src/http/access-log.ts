/**
 * Request logging: one JSON line per finished request, in place of fastify's two ("incoming
 * request", "request completed"). Lines are written whatever `log.level` is, as Distribution's
 * access log is, unless `log.accesslog.disabled`. `url` is the target as sent; `route` is the
 * route the request pipeline gave it (`manifest`, `blob`, `token`, `admin`, …). Headers are never logged, so credentials sent
 * in `Authorization` cannot reach the log.
 */
import { traceIdOf } from '../tracing/index.js';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** The request's trace id while tracing is on (src/tracing), to find its spans from the line. */
function traceField(request: FastifyRequest): { traceId?: string } {
  const traceId = traceIdOf(request);
  return traceId ? { traceId } : {};
}

export class AccessLog extends LogController {
  private readonly access: Logger;

  constructor(logger: Logger, enabled: boolean) {
    super({ disableRequestLogging: !enabled });
    this.access = logger.child({}, { level: 'info' });
  }

  override incomingRequest(): void {
    // The completed line says everything; an incoming line would only double the volume.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const length = reply.getHeader('content-length');
    // The route the pipeline read (src/request/routes.ts); absent for a target it refused.
    const route = request.berth?.route;
    this.access.info(
      {
        reqId: request.id,
        method: request.method,
        url: request.url,
        ...(route ? { route: route.family === 'registry' ? route.route : route.family } : {}),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        remoteAddress: request.ip,
        userAgent: request.headers['user-agent'],
        ...(length !== undefined ? { bytes: Number(length) } : {}),
        ...(error ? { error: error.message } : {}),
        ...traceField(request),
      },
      'request',
    );
  }
}

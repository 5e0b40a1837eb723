/**
 * Request logging: one JSON line per finished request, in place of fastify's two ("incoming
 * request", "request completed"). Lines are written whatever `log.level` is, as Distribution's
 * access log is, unless `log.accesslog.disabled`. `url` is the target as sent; `route` is the
 * route the request pipeline gave it (`manifest`, `blob`, `token`, `admin`, …); `protocol` is
 * `HTTP/1.1` or `HTTP/2.0`. Headers are never logged, so credentials sent
 * in `Authorization` cannot reach the log.
 */
import { traceIdOf } from '../tracing/index.js';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isHttp2 } from '../request/protocol.js';

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

  /**
   * The peer of each HTTP/2 request, read while its stream is open: the line is written once the
   * stream has closed, when Node no longer says which connection it was on.
   */
  private readonly http2Peers = new WeakMap<FastifyRequest, string | undefined>();

  override incomingRequest(request: FastifyRequest): void {
    // The completed line says everything; an incoming line would only double the volume.
    if (!this.isLogDisabled(request) && isHttp2(request.raw)) this.http2Peers.set(request, request.ip);
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
        protocol: `HTTP/${request.raw.httpVersion}`,
        remoteAddress: this.http2Peers.has(request) ? this.http2Peers.get(request) : request.ip,
        userAgent: request.headers['user-agent'],
        ...(length !== undefined ? { bytes: Number(length) } : {}),
        ...(error ? { error: error.message } : {}),
        ...traceField(request),
      },
      'request',
    );
  }
}

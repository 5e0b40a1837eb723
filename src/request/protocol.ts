/**
 * Which HTTP version a request arrived in (http.http2, http.h2c: docs/configuration.md). On
 * HTTP/2 a request is a stream of a shared connection: fastify's `request.raw` is then Node's
 * Http2ServerRequest, whose Host is the `:authority` pseudo-header and whose socket carries
 * other requests at the same time.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

export function isHttp2(request: IncomingMessage | Http2ServerRequest): request is Http2ServerRequest {
  return request.httpVersionMajor === 2;
}

/** The host the client addressed: the Host header, or HTTP/2's `:authority`. */
export function hostHeader(request: IncomingMessage | Http2ServerRequest): string | undefined {
  const host = request.headers.host ?? request.headers[':authority'];
  return Array.isArray(host) ? host[0] : host;
}

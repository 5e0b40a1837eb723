/**
 * Distribution's HTTP metrics, with its names, labels and buckets (docker/go-metrics as
 * Distribution uses it), so dashboards made for Distribution read Berth unchanged:
 *
 *   registry_http_requests_total{code,handler,method}     counter
 *   registry_http_request_duration_seconds{handler,method} histogram
 *   registry_http_request_size_bytes{handler}              histogram (approximate, as Go's promhttp)
 *   registry_http_response_size_bytes{handler}             histogram (body bytes)
 *   registry_http_in_flight_requests{handler}              gauge
 *
 * plus Berth's bytes on the wire per handler (berth_http_received_bytes_total,
 * berth_http_sent_bytes_total). The handler is the route the request pipeline gave the request
 * (src/request/routes.ts), named as Distribution names its routes; the URL is never read again.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isHttp2 } from '../request/protocol.js';
import type { RouteName } from '../api/routes.js';
import type { Route } from '../request/routes.js';
import { uploadsInProgress } from './families.js';
import { counter, gauge, histogram } from './registry.js';

/** Distribution's route names for the `/v2/` routes (registry/api/v2/routes.go). */
const REGISTRY_HANDLERS: Record<RouteName, string> = {
  base: 'base',
  catalog: 'catalog',
  tags: 'tags',
  manifest: 'manifest',
  uploads: 'blob_upload',
  upload: 'blob_upload_chunk',
  blob: 'blob',
  referrers: 'referrers',
};

/** The `handler` label of a route; undefined for paths no route serves (as Distribution counts only its routes). */
export function handlerOf(route: Route): string | undefined {
  switch (route.family) {
    case 'registry':
      return REGISTRY_HANDLERS[route.route];
    case 'none':
      return undefined;
    case 'ui-api':
      return 'ui_api';
    default:
      return route.family;
  }
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60];
/** 1 KiB to 4 GiB, doubling. */
const SIZE_BUCKETS = Array.from({ length: 22 }, (_, index) => 1024 * 2 ** index);

const requests = counter({
  name: 'registry_http_requests_total',
  help: 'Total number of HTTP requests made.',
  labelNames: ['code', 'handler', 'method'] as const,
});
const durations = histogram({
  name: 'registry_http_request_duration_seconds',
  help: 'The HTTP request latencies in seconds.',
  labelNames: ['handler', 'method'] as const,
  buckets: DURATION_BUCKETS,
});
const requestSizes = histogram({
  name: 'registry_http_request_size_bytes',
  help: 'The HTTP request sizes in bytes.',
  labelNames: ['handler'] as const,
  buckets: SIZE_BUCKETS,
});
const responseSizes = histogram({
  name: 'registry_http_response_size_bytes',
  help: 'The HTTP response sizes in bytes.',
  labelNames: ['handler'] as const,
  buckets: SIZE_BUCKETS,
});
const inFlight = gauge({
  name: 'registry_http_in_flight_requests',
  help: 'The in-flight HTTP requests',
  labelNames: ['handler'] as const,
});
const received = counter({
  name: 'berth_http_received_bytes_total',
  help: 'Bytes received from clients (request heads and bodies), per handler.',
  labelNames: ['handler'] as const,
});
const sent = counter({
  name: 'berth_http_sent_bytes_total',
  help: 'Bytes sent to clients (response heads and bodies), per handler.',
  labelNames: ['handler'] as const,
});

// Distribution shows every handler's gauge from the start, at 0.
for (const handler of Object.values(REGISTRY_HANDLERS)) inFlight.set({ handler }, 0);

/** A request's head as Go's promhttp estimates it: URL, method, protocol, header names and values. */
function headSize(request: FastifyRequest): number {
  const raw = request.raw;
  let size = (raw.url ?? '').length + raw.method!.length + 'HTTP/'.length + raw.httpVersion.length;
  const headers = raw.rawHeaders;
  for (let index = 0; index < headers.length; index += 2) size += headers[index]!.length + headers[index + 1]!.length;
  return size;
}

function declaredBody(request: FastifyRequest): number | undefined {
  const length = Number(request.raw.headers['content-length']);
  return Number.isFinite(length) && length >= 0 ? length : undefined;
}

/** A request carrying blob bytes: a chunk, a closing PUT with bytes, a whole blob in one POST. */
function sendsUploadBytes(request: FastifyRequest, handler: string): boolean {
  const headers = request.raw.headers;
  if (!(Number(headers['content-length']) > 0 || headers['transfer-encoding'] !== undefined)) return false;
  if (handler === 'blob_upload_chunk') return request.method === 'PATCH' || request.method === 'PUT';
  return handler === 'blob_upload' && request.method === 'POST' && request.berth.target.query.has('digest');
}

/**
 * Counts one request, from the pipeline's first hook (once the route is known) to the close of
 * its response, which comes whether the response finished or the client went away.
 */
/**
 * The series one handler and method count into, bound once: prom-client hashes a label object
 * on every call, which costs more than the counting itself at thousands of requests a second.
 */
interface Series {
  inFlight: ReturnType<typeof inFlight.labels>;
  duration: ReturnType<typeof durations.labels>;
  requestSize: ReturnType<typeof requestSizes.labels>;
  responseSize: ReturnType<typeof responseSizes.labels>;
  received: ReturnType<typeof received.labels>;
  sent: ReturnType<typeof sent.labels>;
  byCode: Map<number, ReturnType<typeof requests.labels>>;
  handler: string;
  method: string;
}

const seriesCache = new Map<string, Series>();

function seriesOf(handler: string, method: string): Series {
  const key = `${handler} ${method}`;
  let series = seriesCache.get(key);
  if (!series) {
    series = {
      inFlight: inFlight.labels({ handler }),
      duration: durations.labels({ handler, method }),
      requestSize: requestSizes.labels({ handler }),
      responseSize: responseSizes.labels({ handler }),
      received: received.labels({ handler }),
      sent: sent.labels({ handler }),
      byCode: new Map(),
      handler,
      method,
    };
    seriesCache.set(key, series);
  }
  return series;
}

function countCode(series: Series, code: number): void {
  let counter = series.byCode.get(code);
  if (!counter) {
    counter = requests.labels({ code: String(code), handler: series.handler, method: series.method });
    series.byCode.set(code, counter);
  }
  counter.inc();
}

/** Bytes on the wire of one exchange, read once it is over. */
interface WireBytes {
  /** Body bytes received, when the request declared no length. */
  body(): number;
  /** Head and body bytes sent. */
  sent(): number;
}

/** On HTTP/1: what the connection read and wrote meanwhile (keep-alive serves one request at a time). */
function connectionBytes(request: FastifyRequest): WireBytes {
  const socket = request.raw.socket;
  const readBefore = socket.bytesRead;
  const writtenBefore = socket.bytesWritten;
  return {
    body: () => Math.max(0, socket.bytesRead - readBefore),
    sent: () => Math.max(0, socket.bytesWritten - writtenBefore),
  };
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * On HTTP/2 the connection carries other requests at the same time, so the stream's own body
 * bytes are counted as they pass, and the response head by its uncompressed size (HPACK makes
 * it smaller on the wire).
 */
function streamBytes(request: Http2ServerRequest, response: Http2ServerResponse): WireBytes {
  let received = 0;
  let sent = 0;
  // Counted as the compatibility layer hands them to the request: a listener on the stream would
  // start its flow before the request reads it, and the body would be lost.
  const push = request.push;
  request.push = function countedPush(this: Http2ServerRequest, chunk: unknown, ...rest: unknown[]) {
    if (chunk !== null && chunk !== undefined) received += byteLength(chunk, rest[0]);
    return (push as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof request.push;
  const { write, end } = response;
  response.write = function countedWrite(this: Http2ServerResponse, chunk: unknown, ...rest: unknown[]) {
    sent += byteLength(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof response.write;
  response.end = function countedEnd(this: Http2ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') sent += byteLength(chunk, rest[0]);
    return (end as (...args: unknown[]) => Http2ServerResponse).call(this, chunk, ...rest);
  } as typeof response.end;
  const head = () => {
    let size = ':status'.length + 3;
    for (const [name, value] of Object.entries(response.getHeaders())) size += name.length + String(value).length;
    return size;
  };
  return { body: () => received, sent: () => head() + sent };
}

export function countRequest(request: FastifyRequest, reply: FastifyReply): void {
  const handler = handlerOf(request.berth.route);
  if (handler === undefined) return;
  const started = performance.now();
  const raw = request.raw;
  const wire = isHttp2(raw) ? streamBytes(raw, reply.raw as unknown as Http2ServerResponse) : connectionBytes(request);
  const method = request.method === 'HEAD' ? 'head' : request.method.toLowerCase();
  const series = seriesOf(handler, method);
  const upload = sendsUploadBytes(request, handler);
  series.inFlight.inc();
  if (upload) uploadsInProgress.inc();
  reply.raw.once('close', () => {
    series.inFlight.dec();
    if (upload) uploadsInProgress.dec();
    countCode(series, reply.raw.statusCode);
    series.duration.observe((performance.now() - started) / 1000);
    const head = headSize(request);
    const declared = declaredBody(request);
    series.requestSize.observe(head + (declared ?? 0));
    const length = method === 'head' ? 0 : Number(reply.getHeader('content-length') ?? 0);
    series.responseSize.observe(Number.isFinite(length) ? length : 0);
    // A chunked body has no declared length: then what arrived of it.
    series.received.inc(head + (declared ?? wire.body()));
    series.sent.inc(wire.sent());
  });
}

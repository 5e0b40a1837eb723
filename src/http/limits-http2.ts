/**
 * `berth.limits` on HTTP/2 (docs/rate-limits.md). Node applies its request timeout and socket
 * timeout to HTTP/1 connections only, and on HTTP/2 one connection carries many requests at once:
 * so here each limit applies to one request's stream, with the answers limits.ts gives on HTTP/1,
 * and only that stream ends (the connection's other requests go on).
 *
 * - `requesttimeout`: a request whose body has not all arrived in time gets 408.
 * - `idletimeout`: a stream on which the client sends no byte of its body, or reads no byte of its
 *   response, for this long gets 408 (while it was sending) or is reset. Time the server spends
 *   working on the request does not count.
 * - `headersize`: a request whose head (pseudo-headers, names and values) is larger gets 431, as
 *   on HTTP/1. Node resets the stream of a head beyond the header list size announced, which
 *   protocols.ts keeps above the limit.
 */
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ErrorCode } from '../api/errcodes.js';
import type { Config } from '../config/schema.js';
import { isHttp2 } from '../request/protocol.js';
import { envelopeText } from './errors.js';
import { DEFAULT_HEADER_SIZE, isUpload, RESUME_HINT, seconds } from './limits.js';

interface StreamExchange {
  request: Http2ServerRequest;
  response: Http2ServerResponse;
  fastify: FastifyRequest;
}

/** The whole body has arrived (HTTP/1's `complete`): the client ended its side of the stream. */
function bodyArrived({ request }: StreamExchange): boolean {
  return request.stream.readableEnded || request.readableEnded;
}

/** Answers 408 with the envelope when nothing was sent yet, then ends the stream. */
function refuseOnStream(exchange: StreamExchange, code: ErrorCode, message: string): void {
  const { request, response } = exchange;
  const stream = request.stream;
  if (stream.destroyed) return;
  if (response.headersSent) {
    stream.close(constants.NGHTTP2_CANCEL);
    return;
  }
  const body = envelopeText(code, message);
  response.writeHead(408, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
  });
  response.end(body);
  // NO_ERROR: the client stops sending and keeps the answer (RFC 9113 §8.1). Node submits the
  // reset once the stream has written the answer.
  stream.close(constants.NGHTTP2_NO_ERROR);
}

function refuseLate(exchange: StreamExchange, message: string): void {
  if (isUpload(exchange)) refuseOnStream(exchange, 'BLOB_UPLOAD_INVALID', message + RESUME_HINT);
  else refuseOnStream(exchange, 'UNSUPPORTED', message);
}

/** The request head's size as HTTP/1's limit counts it: every name and value, pseudo-headers included. */
function headSize(request: Http2ServerRequest): number {
  let size = 0;
  for (const field of request.rawHeaders) size += field.length;
  return size;
}

/** Applies the limits to every HTTP/2 request's stream. */
export function installStreamLimits(app: FastifyInstance, config: Config, log: Logger): void {
  const { requesttimeout: requestTimeout, idletimeout: idle } = config.berth.limits;
  const maxHeadSize = config.berth.limits.headersize ?? DEFAULT_HEADER_SIZE;
  app.addHook('onRequest', async (request, reply) => {
    const raw = request.raw;
    if (!isHttp2(raw)) return;
    if (headSize(raw) > maxHeadSize) {
      const body = envelopeText(
        'UNSUPPORTED',
        `the request line and headers exceed ${maxHeadSize} bytes (berth.limits.headersize)`,
      );
      return reply
        .code(431)
        .header('docker-distribution-api-version', 'registry/2.0')
        .type('application/json')
        .send(body);
    }
    const exchange: StreamExchange = {
      request: raw,
      response: reply.raw as unknown as Http2ServerResponse,
      fastify: request,
    };
    const stream = raw.stream;
    if (requestTimeout > 0 && !bodyArrived(exchange)) {
      const timer = setTimeout(() => {
        if (bodyArrived(exchange)) return;
        log.info({ url: raw.url }, 'request did not arrive within the request timeout; ending its stream');
        refuseLate(
          exchange,
          `the request did not arrive within ${seconds(requestTimeout)} (berth.limits.requesttimeout)`,
        );
      }, requestTimeout);
      stream.once('close', () => clearTimeout(timer));
    }
    if (idle <= 0) return;
    stream.setTimeout(idle, () => {
      if (!bodyArrived(exchange) && raw.readableLength === 0 && stream.readableLength === 0) {
        log.info({ url: raw.url }, 'client stopped sending its request body; ending its stream');
        refuseLate(exchange, `no bytes received for ${seconds(idle)} (berth.limits.idletimeout)`);
        return;
      }
      if (exchange.response.headersSent && stream.bufferSize > 0) {
        log.info({ url: raw.url }, 'client stopped reading its response; ending its stream');
        stream.close(constants.NGHTTP2_CANCEL);
      }
      // Otherwise the server itself is still working on the request: not the client's doing.
    });
  });
}

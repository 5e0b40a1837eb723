/**
 * Limits on the connection itself (`berth.limits`, docs/rate-limits.md), each answered with the
 * spec's JSON error envelope rather than dropped silently:
 *
 * - `headersize`: Node's `maxHeaderSize`; a larger request head gets 431.
 * - `requesttimeout`: Node's `requestTimeout`; a request (headers and body) that has not fully
 *   arrived in time gets 408.
 * - `idletimeout`: a client that sends no byte of its body, or reads no byte of its response,
 *   for this long is cut off (408 while it was sending). Time the server spends working on a
 *   request (hashing, storage) does not count: only a client that has stopped is cut off.
 *
 * A timed-out upload body keeps what it delivered: the upload store appends bytes to the upload
 * as they arrive and a broken body only ends the append (src/registry/uploads.ts), so the client
 * resumes from the offset that `GET` on the upload reports.
 *
 * These are Node's HTTP/1 limits; on HTTP/2 each request is a stream of a shared connection and
 * limits-http2.ts applies the same limits per stream.
 */
import type { IncomingMessage, ServerOptions as HttpServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { FastifyRequest } from 'fastify';
import type { ErrorCode } from '../api/errcodes.js';
import type { Config } from '../config/schema.js';
import { envelopeText } from './errors.js';
import { isHttp2 } from '../request/protocol.js';

/** Node's default `maxHeaderSize`. */
export const DEFAULT_HEADER_SIZE = 16 * 1024;
const NODE_HEADERS_TIMEOUT_MS = 60_000;

interface Exchange {
  request: IncomingMessage;
  response: ServerResponse;
  /** The fastify request, whose state (`berth`) says which route it is once it is read. */
  fastify: FastifyRequest;
}

/** The request a connection is serving now (the last one, on a keep-alive connection). */
const exchanges = new WeakMap<Socket, Exchange>();

export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

export function isUpload(exchange: { fastify: FastifyRequest } | undefined): boolean {
  const route = exchange?.fastify.berth?.route;
  return route?.family === 'registry' && (route.route === 'upload' || route.route === 'uploads');
}

export const RESUME_HINT = '; the bytes received so far are kept: GET the upload URL for its offset and resume';

/**
 * Writes a whole error response straight on the socket and closes it: used when Node's HTTP
 * parser (or a stalled body) ends the exchange and no reply object can be used any more.
 */
function answerOnSocket(socket: Socket, status: number, reason: string, code: ErrorCode, message: string): void {
  const exchange = exchanges.get(socket);
  const started = exchange?.response.headersSent;
  if (socket.writable && !started) {
    const body = envelopeText(code, message);
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Server options for the limits: header size, request timeout, and the answer to parser errors. */
export function applyServerLimits(
  options: FastifyServerOptions & { https?: object; http?: HttpServerOptions },
  config: Config,
): void {
  const limits = config.berth.limits;
  const requestTimeout = limits.requesttimeout;
  const node: HttpServerOptions = {};
  if (limits.headersize !== undefined) node.maxHeaderSize = limits.headersize;
  if (requestTimeout > 0) {
    // Node checks for late requests every `connectionsCheckingInterval` (30 s by default).
    node.connectionsCheckingInterval = Math.min(Math.max(Math.floor(requestTimeout / 4), 100), 30_000);
    node.headersTimeout = Math.min(NODE_HEADERS_TIMEOUT_MS, requestTimeout);
  }
  // Uploads can legitimately take long: no limit on a whole request unless configured.
  options.requestTimeout = requestTimeout;
  if (options.https) Object.assign(options.https, node);
  else options.http = { ...(options.http ?? {}), ...node };
  const headerSize = limits.headersize ?? DEFAULT_HEADER_SIZE;
  options.clientErrorHandler = function clientErrorHandler(
    this: FastifyInstance,
    error: NodeJS.ErrnoException,
    socket: Socket,
  ) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      const upload = isUpload(exchanges.get(socket));
      const message = `the request did not arrive within ${seconds(requestTimeout || NODE_HEADERS_TIMEOUT_MS)} (berth.limits.requesttimeout)`;
      answerOnSocket(
        socket,
        408,
        'Request Timeout',
        upload ? 'BLOB_UPLOAD_INVALID' : 'UNSUPPORTED',
        upload ? message + RESUME_HINT : message,
      );
    } else if (error.code === 'HPE_HEADER_OVERFLOW') {
      answerOnSocket(
        socket,
        431,
        'Request Header Fields Too Large',
        'UNSUPPORTED',
        `the request line and headers exceed ${headerSize} bytes (berth.limits.headersize)`,
      );
    } else {
      this.log.debug({ err: error }, 'malformed HTTP request');
      answerOnSocket(
        socket,
        400,
        'Bad Request',
        'UNSUPPORTED',
        `malformed HTTP request (${error.code ?? error.message})`,
      );
    }
  };
  // The idle timeout is Node's socket timeout; installIdleTimeout decides who is idle.
  if (limits.idletimeout > 0) options.connectionTimeout = limits.idletimeout;
}

/** Tracks each connection's current exchange, and cuts off clients that stopped (idletimeout). */
export function installServerLimits(app: FastifyInstance, config: Config, log: Logger): void {
  app.addHook('onRequest', async (request, reply) => {
    // An HTTP/2 stream has limits of its own (limits-http2.ts); its socket is the whole connection.
    if (isHttp2(request.raw)) return;
    exchanges.set(request.raw.socket, { request: request.raw, response: reply.raw, fastify: request });
  });
  const idle = config.berth.limits.idletimeout;
  if (idle <= 0) return;
  // With a listener, Node leaves the socket to it instead of destroying it on every timeout.
  app.server.on('timeout', (socket: Socket) => {
    const exchange = exchanges.get(socket);
    if (!exchange || exchange.response.writableFinished) {
      socket.destroy(); // idle between requests
      return;
    }
    const { request, response } = exchange;
    if (!request.complete && request.readableLength === 0) {
      log.info(
        { url: request.url, received: request.socket.bytesRead },
        'client stopped sending its request body; closing the connection',
      );
      const message = `no bytes received for ${seconds(idle)} (berth.limits.idletimeout)`;
      if (isUpload(exchange))
        answerOnSocket(socket, 408, 'Request Timeout', 'BLOB_UPLOAD_INVALID', message + RESUME_HINT);
      else answerOnSocket(socket, 408, 'Request Timeout', 'UNSUPPORTED', message);
      return;
    }
    if (response.headersSent && (socket.writableLength > 0 || response.writableLength > 0)) {
      log.info({ url: request.url }, 'client stopped reading its response; closing the connection');
      socket.destroy();
    }
    // Otherwise the server itself is still working on the request: not the client's doing.
  });
}

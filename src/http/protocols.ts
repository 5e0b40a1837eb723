/**
 * The listening server and the HTTP versions it speaks, as Distribution's `http.http2` and
 * `http.h2c` choose them:
 *
 * - over TLS, HTTP/2 is offered by ALPN (`h2` before `http/1.1`) unless `http.http2.disabled`;
 * - on a cleartext port with `http.h2c.enabled`, a connection that opens with HTTP/2's preface
 *   (prior knowledge, preface.ts) is served in HTTP/2, any other in HTTP/1.1, on the same port.
 *
 * One Node HTTP/1 server (http or https) listens: every limit, timeout and close of HTTP/1 stays
 * Node's own. It hands the connections that chose HTTP/2 to an HTTP/2 server that never listens,
 * with the same fastify handler, so both versions reach the same pipeline. Because the HTTP/1
 * server accepted them, its close() waits for them too: closing sends each HTTP/2 connection a
 * GOAWAY, which lets the requests under way finish and refuses new ones.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as HttpServer, ServerOptions as HttpServerOptions } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FastifyServerOptions } from 'fastify';
import { sniffPreface } from './preface.js';

/**
 * Flow-control windows Go's HTTP/2 server (and so Distribution's) opens: 1 MiB per stream and per
 * connection, instead of the protocol's 64 KiB, which would hold an upload to 64 KiB per round
 * trip. The connection window bounds what one client can make the server buffer unread.
 */
const RECEIVE_WINDOW = 1 << 20;
/** Go's default for concurrent streams on one connection (golang.org/x/net/http2). */
const MAX_CONCURRENT_STREAMS = 250;
/**
 * Node refuses new streams on a connection (ENHANCE_YOUR_CALM) while the data queued to send on
 * it passes `maxSessionMemory` (10 MB by default). A blob download queues up to one storage chunk
 * (1 MiB from the filesystem driver) beyond what the client's window lets out, so a client that
 * reads a dozen downloads slowly would lose the use of its connection. The credit is sized for
 * every stream the connection may have, the same memory per download as on HTTP/1.1; the
 * idle timeout bounds both.
 */
const SESSION_MEMORY_MB = Math.ceil((MAX_CONCURRENT_STREAMS * (1024 + 64)) / 1024);
/**
 * The header list size announced, and enforced by Node with a stream reset (ENHANCE_YOUR_CALM):
 * kept above `berth.limits.headersize` (HTTP/2 counts 32 bytes more per field), so that a head
 * just over the limit gets the 431 with an error envelope that limits-http2.ts answers, as Go's
 * HTTP/2 server answers 431 too.
 */
function headerListCeiling(maxHeaderSize: number): number {
  return Math.max(65_535, maxHeaderSize + 32 * 256);
}

/** Node's HTTP/1 default, when `http.headersTimeout` is not set. */
const DEFAULT_HEADERS_TIMEOUT = 60_000;

export interface Protocols {
  /** HTTP/2 over TLS, chosen by ALPN (`http.tls` set and `http.http2.disabled` not true). */
  http2OverTls: boolean;
  /** HTTP/2 with prior knowledge on the cleartext port (`http.h2c.enabled`, no `http.tls`). */
  h2c: boolean;
  /** The largest request head accepted, in bytes (`berth.limits.headersize`). */
  maxHeaderSize: number;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** The listening server, with what fastify's close() calls to end HTTP/2 connections. */
export type ListeningServer = HttpServer & { closeHttp2Sessions?: () => void };

/** fastify's `serverFactory` for these protocols. */
export function serverFactory(protocols: Protocols) {
  return (handler: Handler, options: FastifyServerOptions & { https?: HttpsOptions; http?: HttpServerOptions }) => {
    const https = options.https;
    const server: ListeningServer = https
      ? createHttpsServer(protocols.http2OverTls ? { ...https, ALPNProtocols: ['h2', 'http/1.1'] } : https, handler)
      : createHttpServer(options.http ?? {}, handler);
    // What fastify sets on the servers it makes itself.
    server.keepAliveTimeout = options.keepAliveTimeout ?? 72_000;
    server.requestTimeout = options.requestTimeout ?? 0;
    server.setTimeout(options.connectionTimeout ?? 0);

    const http2 = https ? protocols.http2OverTls : protocols.h2c;
    if (!http2) return server;
    const h2 = http2Server(handler, protocols, options);
    server.closeHttp2Sessions = h2.closeSessions;
    if (https) handOverByAlpn(server, h2.server);
    else handOverByPreface(server, h2.server, options.http?.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT);
    return server;
  };
}

/** The HTTP/2 server connections are handed to, and a graceful close of its connections. */
function http2Server(
  handler: Handler,
  protocols: Protocols,
  options: FastifyServerOptions,
): { server: Http2Server; closeSessions: () => void } {
  const server = createHttp2Server(
    {
      maxSessionMemory: SESSION_MEMORY_MB,
      settings: {
        initialWindowSize: RECEIVE_WINDOW,
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        maxHeaderListSize: headerListCeiling(protocols.maxHeaderSize),
      },
    },
    handler as unknown as Parameters<typeof createHttp2Server>[1],
  );
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;
  // An idle connection is closed as HTTP/1's keep-alive ones are: after the idle timeout when
  // one is set (the socket timeout), else after the keep-alive timeout.
  const idleMs =
    (options.connectionTimeout ?? 0) > 0 ? options.connectionTimeout! : (options.keepAliveTimeout ?? 72_000);
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      stream.once('close', () => open--);
    });
    session.once('close', () => sessions.delete(session));
    session.setLocalWindowSize(RECEIVE_WINDOW);
    // A request under way has its own timers (limits-http2.ts): only a connection without one is idle.
    session.setTimeout(idleMs, () => {
      if (open === 0) session.close();
    });
    // A connection handed over after close() started (it was still opening) is told at once.
    if (closing) session.close();
  });
  return {
    server,
    closeSessions: () => {
      closing = true;
      for (const session of sessions) session.close();
    },
  };
}

/** Over TLS: a connection whose client chose `h2` by ALPN goes to the HTTP/2 server. */
function handOverByAlpn(server: HttpServer, h2: Http2Server): void {
  const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else for (const listener of http1) listener.call(server, socket);
  });
}

/** In cleartext: a connection that opens with the HTTP/2 preface goes to the HTTP/2 server. */
function handOverByPreface(server: HttpServer, h2: Http2Server, timeoutMs: number): void {
  const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    sniffPreface(socket, timeoutMs, (http2) => {
      if (http2) {
        // The HTTP/2 session reads what is in the socket's buffer first.
        h2.emit('connection', socket);
        return;
      }
      for (const listener of http1) listener.call(server, socket);
      socket.resume();
    });
  });
}

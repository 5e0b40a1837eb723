/**
 * HTTP/2 requests from Node's own client (node:http2), for tests that need to see one
 * connection carry several requests, send a body in chunks of their choosing, or stop halfway.
 * Every request is bounded so a hung stream fails the test instead of hanging the suite.
 */
import {
  connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { once } from 'node:events';

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface H2Request {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** One buffer with its Content-Length, or chunks streamed without one. */
  body?: Buffer | Buffer[];
}

const BOUND_MS = 30_000;

/** Opens a session (h2c for http:, TLS with ALPN h2 for https:) and waits until it is connected. */
export async function openSession(url: string, options: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  const session = connect(url, options);
  session.on('error', () => {});
  await once(session, 'connect');
  return session;
}

export function h2request(session: ClientHttp2Session, request: H2Request): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      ':method': request.method ?? 'GET',
      ':path': request.path,
      ...request.headers,
    };
    if (Buffer.isBuffer(request.body)) headers['content-length'] = request.body.length;
    const stream = session.request(headers, { endStream: request.body === undefined });
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`${headers[':method']} ${request.path}: no complete answer within ${BOUND_MS} ms`));
    }, BOUND_MS);
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => {
      responseHeaders = received;
      status = Number(received[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      clearTimeout(timer);
      if (status === 0) reject(new Error(`${headers[':method']} ${request.path}: the stream ended without an answer`));
      else resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
    });
    stream.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (Buffer.isBuffer(request.body)) stream.end(request.body);
    else if (request.body) {
      for (const chunk of request.body) stream.write(chunk);
      stream.end();
    }
  });
}

/** Closes a session and waits until it has. */
export async function closeSession(session: ClientHttp2Session): Promise<void> {
  if (session.destroyed) return;
  const closed = once(session, 'close');
  session.close();
  await closed;
}

/**
 * A real HTTP proxy on loopback in front of a registry, for client tests that need a server to
 * misbehave in one specific way: fail a few times, cut connections, alter bytes, redirect. Each
 * request first goes to `intercept`, which may answer it itself; the rest are forwarded, with
 * `rewrite` given a chance to change the response body.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';

export interface ProxyOptions {
  /** Answer the request here and return true, or return false to forward it. */
  intercept?: (request: IncomingMessage, response: ServerResponse, count: number) => boolean;
  /** Change a forwarded response body (small bodies only). */
  rewrite?: (request: IncomingMessage, body: Buffer, headers: Record<string, string | string[] | undefined>) => Buffer;
}

export interface TestProxy {
  url: string;
  host: string;
  /** Every request seen: "METHOD path". */
  seen: string[];
  close(): Promise<void>;
}

export async function startProxy(target: string, options: ProxyOptions = {}): Promise<TestProxy> {
  const upstream = new URL(target);
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    if (options.intercept?.(request, response, seen.length)) {
      request.resume();
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
      },
      (answer) => {
        if (!options.rewrite) {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const headers = { ...answer.headers };
          const body = options.rewrite!(request, Buffer.concat(chunks), headers);
          if (request.method !== 'HEAD') headers['content-length'] = String(body.length);
          response.writeHead(answer.statusCode ?? 502, headers);
          response.end(request.method === 'HEAD' ? undefined : body);
        });
      },
    );
    forward.on('error', () => response.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

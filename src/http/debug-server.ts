/**
 * The debug listener (`http.debug.addr`), as Distribution's: a plain HTTP server on its own
 * address, never on the registry's port, for monitoring systems on a private network. It serves
 *   GET /debug/health                 the failing checks as {"<check>":"<error>"}; 200 when the
 *                                     map is empty, else 503 (src/health/monitor.ts)
 *   GET <http.debug.prometheus.path>  Prometheus metrics (src/metrics), when enabled; with
 *                                     worker processes, the sum over them (src/metrics/workers.ts)
 * and Go's plain "404 page not found" for anything else. Its routes are read once, from
 * src/request/routes.ts (`debugRouteOf`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseTcpAddress } from '../config/address.js';
import type { HealthMonitor } from '../health/index.js';
import { debugRouteOf } from '../request/routes.js';
import { parseRequestTarget } from '../request/target.js';

export interface DebugServerOptions {
  addr: string;
  health: HealthMonitor;
  /** Set when `http.debug.prometheus.enabled`. */
  metrics?: { path: string; contentType: string; text: () => Promise<string> };
  logger: Logger;
}

function send(response: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  response.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  response.end(head ? undefined : body);
}

const notFound = (response: ServerResponse) =>
  send(response, 404, 'text/plain; charset=utf-8', '404 page not found\n', false);

export class DebugServer {
  private server?: Server;

  constructor(private readonly options: DebugServerOptions) {}

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let path: string;
    try {
      path = parseRequestTarget(request.url ?? '/').path;
    } catch {
      return send(response, 400, 'text/plain; charset=utf-8', '400 bad request\n', false);
    }
    const { health, metrics } = this.options;
    const route = debugRouteOf(path, metrics?.path);
    const head = request.method === 'HEAD';
    if (route === 'none' || (request.method !== 'GET' && !head)) return notFound(response);
    if (route === 'health') {
      return send(
        response,
        health.healthy ? 200 : 503,
        'application/json; charset=utf-8',
        JSON.stringify(health.failures()),
        head,
      );
    }
    send(response, 200, metrics!.contentType, await metrics!.text(), head);
  }

  /** Starts listening; resolves to the bound port. */
  async listen(): Promise<number> {
    const address = parseTcpAddress(this.options.addr);
    if (!address) throw new Error(`http.debug.addr: "${this.options.addr}" is not host:port`);
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'debug listener: request failed');
        if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n', false);
        else response.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => resolve());
    });
    const bound = server.address();
    return typeof bound === 'object' && bound ? bound.port : address.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

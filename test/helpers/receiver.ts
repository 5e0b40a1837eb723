/**
 * A webhook receiver on a loopback port, as a CI hook or scanner would run one: it keeps every
 * POST (headers and raw body), answers with a chosen status, and can be stopped and started
 * again on the same port to play an outage.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './tools.js';

/** An event as a receiver reads it: JSON whose shape the tests check field by field. */
export type Json = Record<string, any>;

export interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Events of every delivery in a Distribution envelope, in arrival order. */
  events(): Json[];
  /** Status to answer with (default 200). */
  status: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Waits until `predicate` holds over the deliveries, at most `ms`. */
  waitFor(predicate: (receiver: Receiver) => boolean, what: string, ms?: number): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const port = await freePort();
  let server: Server | undefined;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries: [],
    status: 200,
    events() {
      return receiver.deliveries.flatMap((delivery) => {
        const parsed = JSON.parse(delivery.body) as { events?: Json[] };
        return parsed.events ?? [];
      });
    },
    async start() {
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          receiver.deliveries.push({
            path: request.url ?? '',
            headers: request.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
          response.writeHead(receiver.status).end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, '127.0.0.1', () => resolve());
      });
    },
    async stop() {
      const current = server;
      server = undefined;
      if (!current) return;
      current.closeAllConnections();
      await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    async waitFor(predicate, what, ms = 20_000) {
      const until = Date.now() + ms;
      while (!predicate(receiver)) {
        if (Date.now() > until) {
          throw new Error(
            `receiver: ${what} did not happen within ${ms} ms (${receiver.deliveries.length} deliveries)`,
          );
        }
        await sleep(25);
      }
    },
  };
  await receiver.start();
  return receiver;
}

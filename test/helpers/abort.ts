/** A client that goes away mid-body: the request's headers and part of its body, then a reset. */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Sends `method path` with a `declared`-byte body to `host` (host:port), writes `sent` bytes of
 * it, waits `settleMs` for the server to store what arrived, then resets the connection.
 */
export async function abortMidBody(
  host: string,
  method: string,
  path: string,
  declared: number,
  sent: number,
  settleMs = 200,
): Promise<void> {
  const [hostname, port] = host.split(':') as [string, string];
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  const piece = Buffer.alloc(64 * 1024, 7);
  for (let written = 0; written < sent; written += piece.length) {
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await sleep(settleMs);
  socket.resetAndDestroy();
}

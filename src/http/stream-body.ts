/**
 * Response bodies from storage streams. fastify pipes a stream into the response, which leaves no
 * way to learn when the socket is done with a chunk. For a reader that reuses its chunks
 * (RecyclingReader: the filesystem driver's), the body is written here instead, chunk by chunk,
 * and each chunk goes back to the reader once the socket has taken it: a 256 MiB download then
 * allocates a few megabytes rather than 256, and the garbage collector stays out of the way
 * (docs/performance.md, row 3). fastify still logs the response (`onResponse`).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { isRecyclingReader } from '../storage/driver.js';

/** Sends the status and headers set on `reply`, then `body`. */
export function sendStream(reply: FastifyReply, body: Readable): void {
  if (!isRecyclingReader(body)) {
    reply.send(body);
    return;
  }
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  body.on('data', (chunk: Buffer) => {
    // The callback runs once the socket has handed the chunk to the kernel.
    if (!response.write(chunk, () => body.recycle(chunk))) body.pause();
  });
  response.on('drain', () => body.resume());
  body.once('end', () => response.end());
  body.once('error', (error) => {
    // The status line is out: all that is left is to cut the connection, so the client sees a
    // short body rather than a complete-looking one.
    reply.log.error({ err: error }, 'blob stream failed');
    response.destroy(error);
  });
  // Finished, or the client went away: either way the reader releases its file.
  response.once('close', () => body.destroy());
}

/**
 * One upstream stream, two readers: the client that asked (it gets bytes as they arrive) and the
 * cache copy being written. The source waits for the slower of the two, so memory stays at a few
 * chunks; when the client goes away, the copy goes on alone and is finished.
 */
import { PassThrough, type Readable } from 'node:stream';

export interface Tee {
  /** What to send to the client. */
  client: PassThrough;
  /** What to write into the cache. */
  cache: PassThrough;
}

export function tee(source: Readable): Tee {
  const client = new PassThrough();
  const cache = new PassThrough();
  let clientGone = false;
  const waiting = new Set<PassThrough>();
  const resumeWhenDrained = (branch: PassThrough) => {
    waiting.delete(branch);
    if (waiting.size === 0) source.resume();
  };
  client.on('drain', () => resumeWhenDrained(client));
  cache.on('drain', () => resumeWhenDrained(cache));
  client.once('close', () => {
    if (!client.writableFinished) clientGone = true;
    if (waiting.has(client)) resumeWhenDrained(client);
  });
  // A client's error (it went away) must not become an unhandled one; the copy does not care.
  client.on('error', () => {
    clientGone = true;
  });
  source.on('data', (chunk: Buffer) => {
    if (!cache.write(chunk)) waiting.add(cache);
    if (!clientGone && !client.destroyed && !client.write(chunk)) waiting.add(client);
    if (waiting.size > 0) source.pause();
  });
  source.once('end', () => {
    cache.end();
    if (!client.destroyed) client.end();
  });
  source.once('error', (error) => {
    cache.destroy(error);
    client.destroy(error);
  });
  return { client, cache };
}

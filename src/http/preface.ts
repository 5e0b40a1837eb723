/**
 * Tells an HTTP/2 connection from an HTTP/1 one on a cleartext port (`http.h2c`): an HTTP/2
 * client with prior knowledge opens with the connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`
 * (RFC 9113 §3.4), which no HTTP/1 request starts with. The bytes read to decide are put back
 * on the socket, so whichever server takes it reads the connection from its first byte.
 */
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Whether `bytes` open with the preface (true), cannot (false), or are too few to say (undefined). */
export function opensWithPreface(bytes: Buffer): boolean | undefined {
  const compared = Math.min(bytes.length, PREFACE.length);
  if (!bytes.subarray(0, compared).equals(PREFACE.subarray(0, compared))) return false;
  return compared === PREFACE.length ? true : undefined;
}

/**
 * Reads `socket` until its first bytes say which protocol it speaks, then calls `route` with the
 * bytes back in the socket's buffer and the socket paused. A client that says nothing for
 * `timeoutMs` (the HTTP/1 headers timeout) or goes away first is disconnected.
 */
export function sniffPreface(socket: Socket, timeoutMs: number, route: (http2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const stop = () => {
    socket.off('data', onData).off('error', onGone).off('end', onGone).off('timeout', onGone);
    socket.setTimeout(0);
  };
  const onGone = () => {
    stop();
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const http2 = opensWithPreface(seen);
    if (http2 === undefined) return;
    stop();
    socket.pause();
    socket.unshift(seen);
    route(http2);
  };
  socket.on('data', onData).once('error', onGone).once('end', onGone).once('timeout', onGone);
  if (timeoutMs > 0) socket.setTimeout(timeoutMs);
}

/**
 * Ending what carries an exchange once its answer is out, when the rest of the request body will
 * not be read. On HTTP/1 that is the connection (`Connection: close`). On HTTP/2 the connection
 * carries other requests and has no Connection header (Node refuses to send one): only the
 * stream ends, with RST_STREAM NO_ERROR, which asks the client to stop sending the body and keep
 * the response (RFC 9113 §8.1).
 */
import { constants } from 'node:http2';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isHttp2 } from '../request/protocol.js';

export function endAfterAnswer(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (!isHttp2(raw)) {
    reply.header('Connection', 'close');
    return;
  }
  // The stream's own 'finish' (its writable side is done): the response's 'finish' only comes once
  // the stream has closed, which it would not while the client still sends. Node sends the
  // answer's pending frames before the reset.
  raw.stream.once('finish', () => raw.stream.close(constants.NGHTTP2_NO_ERROR));
}

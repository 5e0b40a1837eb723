/**
 * The one place that turns a failure into an HTTP answer: every error envelope
 * (`{"errors":[{"code","message","detail"}]}`) Berth writes comes from here, whether a handler,
 * a hook (access rules, rate limits, the target parser) or the connection limits raised it.
 *
 * Lower layers throw what happened (a RegistryError with a spec code, or a domain error with
 * figures); `httpErrorOf` decides the status and headers. Before answering, the rest of an
 * unread request body is read and dropped, up to a bound, so that a client that sends its whole
 * body before reading (Python `requests`, most scripts) gets the answer and the connection
 * stays usable; past the bound the answer carries `Connection: close` and the connection ends
 * (on HTTP/2, only the request's stream: stream-close.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode } from '../api/errcodes.js';
import { RegistryError } from '../api/errors.js';
import { TokenRequestError } from '../auth/token/errors.js';
import { GcBusyError } from '../registry/gc/lock.js';
import { GcWaitError } from '../registry/gc/protocol.js';
import {
  BlobTooLargeError,
  ChunkOutOfOrderError,
  InsufficientStorageError,
  UploadBusyError,
} from '../registry/errors.js';
import { UpstreamError } from '../registry/proxy/upstream.js';
import { TargetError } from '../request/target.js';
import { LockTimeoutError } from '../shared/lock.js';
import { REDIS_RETRY_AFTER_SECONDS, RedisUnavailableError } from '../shared/unavailable.js';
import { endAfterAnswer } from './stream-close.js';

/** How much of a refused body is read and dropped so the client can read the answer. */
export const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;
/** How long a refused body may take to arrive before the connection is closed instead. */
export const DRAIN_TIMEOUT_MS = 10_000;

/** The envelope's text, for the rare writer that has no reply object (limits.ts). */
export function envelopeText(code: ErrorCode, message: string, detail?: unknown): string {
  return JSON.stringify(new RegistryError(code, message, detail).toBody());
}

/** Errors Node raises when a client goes away or sends a broken body: the client's fault. */
function isClientStreamError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || code === 'EPIPE';
}

/** The HTTP form of any failure: status and headers from what happened. */
export function httpErrorOf(error: unknown): {
  error: RegistryError;
  extraBody?: Record<string, unknown>;
  unexpected?: boolean;
} {
  if (error instanceof ChunkOutOfOrderError) {
    return {
      error: new RegistryError(error.code, error.message, error.detail, {
        status: 416,
        headers: { Range: `0-${Math.max(error.offset - 1, 0)}` },
      }),
    };
  }
  if (error instanceof UploadBusyError)
    return {
      error: new RegistryError(error.code, error.message, error.detail, {
        status: 409,
        headers: { 'Retry-After': '1' },
      }),
    };
  if (error instanceof BlobTooLargeError)
    return { error: new RegistryError(error.code, error.message, error.detail, { status: 413 }) };
  if (error instanceof TokenRequestError) {
    // Both shapes: the registry's envelope (Docker's client reads it) and OAuth2's (RFC 6749 §5.2).
    const code = error.status === 401 ? 'UNAUTHORIZED' : (error.oauth.toUpperCase() as ErrorCode);
    const envelope = new RegistryError(code, error.message, undefined, {
      status: error.status,
      headers: error.headers,
    });
    return { error: envelope, extraBody: { error: error.oauth, error_description: error.message } };
  }
  if (error instanceof TargetError) {
    return {
      error: new RegistryError(
        'UNSUPPORTED',
        `request target not accepted: ${error.message}`,
        { target: error.target },
        { status: 400 },
      ),
    };
  }
  const full = InsufficientStorageError.of(error);
  // 507 Insufficient Storage (RFC 4918): a server-side condition clients retry later, not a bad request.
  if (full) return { error: new RegistryError(full.code, full.message, full.detail, { status: 507 }) };
  if (error instanceof UpstreamError) return { error: upstreamFailure(error) };
  if (error instanceof GcWaitError) {
    return {
      error: new RegistryError(
        'UNKNOWN',
        error.message,
        { runs: error.runs },
        { status: 503, headers: { 'Retry-After': '5' } },
      ),
    };
  }
  // The shared lock cannot be had now (Redis down, or held past the wait by a stuck instance): a
  // condition of the service that passes, so 503 with the time to wait rather than 500.
  if (error instanceof RedisUnavailableError || error instanceof LockTimeoutError) {
    const detail = error instanceof RedisUnavailableError ? error.detail : undefined;
    return {
      error: new RegistryError('UNAVAILABLE', error.message, detail, {
        status: 503,
        headers: { 'Retry-After': String(REDIS_RETRY_AFTER_SECONDS) },
      }),
    };
  }
  if (error instanceof GcBusyError)
    return { error: new RegistryError('UNSUPPORTED', error.message, { holder: error.holder }, { status: 409 }) };
  if (error instanceof RegistryError) return { error };
  if (isClientStreamError(error))
    return { error: new RegistryError('BLOB_UPLOAD_INVALID', 'request body ended early') };
  const status = (error as { statusCode?: number } | undefined)?.statusCode;
  if (status && status >= 400 && status < 500)
    return { error: new RegistryError('UNSUPPORTED', (error as Error).message, undefined, { status }) };
  return { error: new RegistryError('UNKNOWN', 'internal server error; see the registry log'), unexpected: true };
}

/**
 * A pull-through cache's upstream failed for content we do not hold: what the upstream said is
 * passed on (its status and error code: a 404 stays MANIFEST_UNKNOWN or BLOB_UNKNOWN), a 429 with
 * the time to wait, and an unreachable upstream as 503. Its refusal of our credentials (401) is a
 * 403 here: the client's own credentials are not what is wrong.
 */
function upstreamFailure(error: UpstreamError): RegistryError {
  if (error.kind === 'throttled') {
    return new RegistryError('TOOMANYREQUESTS', error.message, undefined, {
      status: 429,
      headers: error.retryAfter === undefined ? {} : { 'Retry-After': String(error.retryAfter) },
    });
  }
  if (error.kind === 'unavailable') return new RegistryError('UNAVAILABLE', `upstream unavailable: ${error.message}`);
  const status = error.status === 401 ? 403 : (error.status ?? 502);
  const said = error.errors[0];
  const code = said && Object.hasOwn(ERROR_CODES, said.code) ? (said.code as ErrorCode) : undefined;
  const fallback: ErrorCode = status === 403 ? 'DENIED' : status === 404 ? 'NAME_UNKNOWN' : 'UNKNOWN';
  const chosen = status === 403 ? 'DENIED' : (code ?? fallback);
  return new RegistryError(chosen, `upstream: ${said?.message ?? error.message}`, said?.detail, { status });
}

/** Reads and drops what is left of a request body; true when it ended within the bounds. */
export function drainBody(
  raw: IncomingMessage,
  limit = DRAIN_LIMIT_BYTES,
  timeoutMs = DRAIN_TIMEOUT_MS,
): Promise<boolean> {
  if (raw.complete) {
    // Bytes already parsed but not read would otherwise sit in the stream.
    raw.resume();
    return Promise.resolve(true);
  }
  // A body declared larger than the bound cannot be read within it: close instead of waiting.
  if (raw.destroyed || Number(raw.headers['content-length'] ?? 0) > limit) return Promise.resolve(false);
  return new Promise((resolve) => {
    let received = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      if (!ended) raw.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(raw.complete);
    const timer = setTimeout(() => finish(false), timeoutMs);
    raw.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
    raw.resume();
  });
}

/** fastify's error handler: logs what deserves it, drains the body, writes the envelope. */
export async function sendError(
  error: Error,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const mapped = httpErrorOf(error);
  if (mapped.unexpected) request.log.error({ err: error }, 'unexpected error');
  else if (mapped.error.status >= 500) request.log.error({ err: error }, 'request failed');
  else if (isClientStreamError(error)) request.log.info({ err: error }, 'client went away during the request');
  if (reply.raw.headersSent) {
    // The answer was already under way (a blob stream that failed): all that is left is to end it.
    reply.raw.destroy();
    return;
  }
  if (!(await drainBody(request.raw))) endAfterAnswer(request, reply);
  const { error: answer, extraBody } = mapped;
  reply.code(answer.status).headers(answer.headers).type('application/json');
  if (request.method === 'HEAD') return reply.send();
  return reply.send(JSON.stringify({ ...answer.toBody(), ...extraBody }));
}

/**
 * HTTP for the client, on node:http/node:https: bodies stream both ways, TLS verification can be
 * turned off for registries with self-made certificates, redirects of GET and HEAD are followed
 * (dropping credentials when the redirect leaves the registry, as blob storage redirects do), and
 * idempotent requests are retried on transient failures: connection errors, timeouts, 429, 502,
 * 503 and 504, honouring Retry-After.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError } from './errors.js';

/** A body the transport can send again on a retry: bytes, or a function that opens a fresh stream. */
export type RequestBody = Buffer | string | (() => Readable);

export interface TransportOptions {
  /** Accept any TLS certificate (self-signed registries). */
  insecure?: boolean;
  /** Extra attempts for idempotent requests after a transient failure (default 3). */
  retries?: number;
  /** First back-off delay in milliseconds, doubled at each attempt (default 250). */
  retryDelayMs?: number;
  /** Give up on a connection idle for this long (default 60 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
}

export interface TransportRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Whether the request may be sent again; defaults to true for GET, HEAD, PUT and DELETE. */
  idempotent?: boolean;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Whether the request this answers carried an Authorization header. */
  credentialsSent: boolean;
  /** The body, streamed. Read it, or call `discard()`. */
  body: Readable;
  header(name: string): string | undefined;
  text(limit?: number): Promise<string>;
  buffer(limit?: number): Promise<Buffer>;
  discard(): void;
}

const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const MAX_REDIRECTS = 5;
/** Small documents (manifests, error bodies, token responses) are read whole up to this size. */
export const SMALL_BODY_LIMIT = 16 * 1024 * 1024;

export class Transport {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly idleTimeoutMs: number;
  private readonly userAgent: string;

  constructor(options: TransportOptions = {}) {
    this.http = new HttpAgent({ keepAlive: true });
    this.https = new HttpsAgent({ keepAlive: true, rejectUnauthorized: options.insecure !== true });
    this.retries = options.retries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.userAgent = options.userAgent ?? 'berth-client';
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const idempotent = request.idempotent ?? IDEMPOTENT.has(request.method);
    const replayable = typeof request.body !== 'function' || idempotent;
    const attempts = idempotent && replayable ? this.retries + 1 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.backoff(attempt, lastError));
      try {
        const response = await this.followRedirects(request);
        if (attempt + 1 < attempts && TRANSIENT_STATUS.has(response.status)) {
          lastError = response;
          response.discard();
          continue;
        }
        return response;
      } catch (error) {
        lastError = error;
        if (!(error instanceof NetworkError)) throw error;
        if (!error.transient) break;
      }
    }
    if (lastError instanceof NetworkError) {
      throw new ClientError(
        'network',
        `${request.method} ${request.url.origin}${request.url.pathname}: ${lastError.message}`,
        {
          cause: lastError,
          hint: networkHint(lastError, request.url),
        },
      );
    }
    // Only a transient status can be left here; the caller reports it.
    return lastError as TransportResponse;
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  private backoff(attempt: number, last: unknown): number {
    const base = this.retryDelayMs * 2 ** (attempt - 1);
    if (last && typeof last === 'object' && 'header' in last) {
      const retryAfter = Number((last as TransportResponse).header('retry-after'));
      if (Number.isFinite(retryAfter) && retryAfter >= 0) return Math.min(retryAfter * 1000, 10_000);
    }
    return base;
  }

  private async followRedirects(request: TransportRequest): Promise<TransportResponse> {
    let url = request.url;
    let headers = { ...request.headers };
    for (let hop = 0; ; hop++) {
      const response = await this.once({ ...request, url, headers });
      const location = response.header('location');
      const redirect = [301, 302, 303, 307, 308].includes(response.status) && location !== undefined;
      if (!redirect || (request.method !== 'GET' && request.method !== 'HEAD') || hop >= MAX_REDIRECTS) return response;
      response.discard();
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        // Blob storage behind a redirect has its own credentials in the URL; ours must not leak.
        headers = Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== 'authorization'));
      }
      url = next;
    }
  }

  private once(request: TransportRequest): Promise<TransportResponse> {
    const { url, method } = request;
    const secure = url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = { 'User-Agent': this.userAgent, ...request.headers };
    const body = request.body;
    let stream: Readable | undefined;
    if (typeof body === 'function') {
      stream = body();
    } else if (body !== undefined) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      headers['Content-Length'] = bytes.length;
      stream = Readable.from([bytes]);
    } else if (method === 'PUT' || method === 'POST' || method === 'PATCH') {
      headers['Content-Length'] = 0;
    }
    const credentialsSent = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
    return new Promise<TransportResponse>((resolve, reject) => {
      const outgoing = send(url, { method, headers, agent: secure ? this.https : this.http }, (incoming) => {
        resolve(wrap(incoming, url, credentialsSent));
      });
      outgoing.setTimeout(this.idleTimeoutMs, () =>
        outgoing.destroy(new NetworkError(`no answer within ${this.idleTimeoutMs} ms`)),
      );
      outgoing.on('error', (error) => {
        stream?.destroy();
        reject(error instanceof ClientError ? error : new NetworkError(describeNetworkError(error), error));
      });
      if (!stream) {
        outgoing.end();
        return;
      }
      stream.on('error', (error) => {
        // A failing source (digest mismatch, unreadable file) is the caller's error, not the network's.
        outgoing.destroy();
        reject(error);
      });
      stream.pipe(outgoing);
    });
  }
}

class NetworkError extends Error {
  constructor(
    message: string,
    readonly original?: unknown,
  ) {
    super(message);
    this.name = 'NetworkError';
  }

  /** TLS and name-resolution failures do not go away by trying again. */
  get transient(): boolean {
    const code = (this.original as { code?: string } | undefined)?.code ?? '';
    return !(
      code === 'ENOTFOUND' ||
      code === 'EPROTO' ||
      code.includes('CERT') ||
      code.startsWith('ERR_SSL') ||
      code.startsWith('ERR_TLS')
    );
  }
}

function describeNetworkError(error: Error & { code?: string }): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the registry running, and on this port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'TLS handshake failed (the server may speak plain HTTP)';
    default:
      return error.code ? `${error.code}: ${error.message}` : error.message;
  }
}

function networkHint(error: NetworkError, url: URL): string | undefined {
  const original = error.original as { code?: string } | undefined;
  const code = original?.code ?? '';
  if (url.protocol === 'https:' && (code === 'EPROTO' || code.startsWith('ERR_SSL'))) {
    return 'the registry seems to speak plain HTTP: add --plain-http';
  }
  if (
    url.protocol === 'https:' &&
    (code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN')
  ) {
    return 'the registry certificate is not trusted: add its CA to NODE_EXTRA_CA_CERTS, or pass --insecure to skip verification';
  }
  if (code === 'ECONNREFUSED') return `check that a registry listens on ${url.host}`;
  return undefined;
}

function wrap(incoming: IncomingMessage, url: URL, credentialsSent: boolean): TransportResponse {
  const header = (name: string) => {
    const value = incoming.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const buffer = async (limit = SMALL_BODY_LIMIT) => {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of incoming) {
      total += (chunk as Buffer).length;
      if (total > limit) {
        incoming.destroy();
        throw new ClientError('failure', `${url.origin}${url.pathname}: response larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  };
  return {
    status: incoming.statusCode ?? 0,
    headers: incoming.headers,
    url,
    credentialsSent,
    body: incoming,
    header,
    buffer,
    text: async (limit) => (await buffer(limit)).toString('utf8'),
    discard: () => {
      incoming.resume();
    },
  };
}

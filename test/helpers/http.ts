/**
 * Raw HTTP for protocol tests, through node:http rather than fetch: the path goes out exactly as
 * written (`..`, `%2e%2e` and backslashes are not normalised away), bodies can be streamed with
 * chunked transfer encoding and no Content-Length, and any header can be sent. Every response is
 * checked for the `Docker-Distribution-API-Version` header Distribution sends on all of them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** A response header as one string (repeated headers joined with ", "), or undefined. */
  header(name: string): string | undefined;
  text(): string;
  json<T = any>(): T;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** A Buffer or string is sent with a Content-Length unless `chunked`; a stream is always chunked. */
  body?: Buffer | string | Readable;
  /** Send the body with `Transfer-Encoding: chunked` and no Content-Length, in a few pieces. */
  chunked?: boolean;
  /** Skip the API version header check (for the test that asserts it explicitly). */
  skipVersionCheck?: boolean;
}

export const API_VERSION = ['docker-distribution-api-version', 'registry/2.0'] as const;

/** `base` is the server URL (`http://127.0.0.1:port`); `path` is sent byte for byte. */
export function http(base: string, path: string, options: HttpOptions = {}): Promise<HttpReply> {
  const url = new URL(base);
  const method = options.method ?? 'GET';
  const headers: Record<string, string | number> = { ...options.headers };
  let body = options.body;
  if (typeof body === 'string') body = Buffer.from(body);
  const streamed = body instanceof Readable || options.chunked === true;
  if (body !== undefined && streamed) {
    headers['Transfer-Encoding'] = 'chunked';
  } else if (Buffer.isBuffer(body) && !hasHeader(headers, 'content-length')) {
    headers['Content-Length'] = body.length;
  }
  return new Promise<HttpReply>((resolve, reject) => {
    const request = httpRequest(
      // A connection per request: nothing pooled outlives a test's server.
      { host: url.hostname, port: url.port, path, method, headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const reply = makeReply(response.statusCode ?? 0, response.headers, Buffer.concat(chunks));
          try {
            if (!options.skipVersionCheck) {
              assert.equal(reply.header(API_VERSION[0]), API_VERSION[1], `${method} ${path}: ${API_VERSION[0]} header`);
            }
            resolve(reply);
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on('error', reject);
    if (body === undefined) {
      request.end();
    } else if (body instanceof Readable) {
      body.on('error', (error) => request.destroy(error));
      body.pipe(request);
    } else if (streamed) {
      // Several writes, so the server sees a body arrive in pieces of unknown total length.
      const piece = Math.max(1, Math.ceil(body.length / 3));
      for (let offset = 0; offset < body.length; offset += piece) request.write(body.subarray(offset, offset + piece));
      request.end();
    } else {
      request.end(body);
    }
  });
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

function makeReply(status: number, headers: IncomingHttpHeaders, body: Buffer): HttpReply {
  return {
    status,
    headers,
    body,
    header(name) {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/** A client bound to one server: `api('GET', '/v2/')`. */
export type Api = (method: string, path: string, options?: Omit<HttpOptions, 'method'>) => Promise<HttpReply>;

export function client(base: string): Api {
  return (method, path, options = {}) => http(base, path, { ...options, method });
}

/**
 * Asserts the spec's error envelope: the status, a JSON body whose first error has `code`, and a
 * string message. HEAD responses carry no body, so only the status is checked for them.
 */
export function assertError(reply: HttpReply, status: number, code: string, context = ''): void {
  const where = context ? `${context}: ` : '';
  assert.equal(reply.status, status, `${where}status (body: ${reply.text()})`);
  if (reply.body.length === 0) return;
  assert.match(reply.header('content-type') ?? '', /^application\/json/, `${where}content-type`);
  const body = reply.json<{ errors: Array<{ code: string; message: unknown }> }>();
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `${where}errors array`);
  assert.equal(body.errors[0]!.code, code, `${where}error code (body: ${reply.text()})`);
  assert.equal(typeof body.errors[0]!.message, 'string', `${where}error message`);
}

/** Streams a generated body of `size` pseudo-random bytes, without holding it in memory. */
export function generatedStream(
  size: number,
  seed = 1,
  pieceSize = 64 * 1024,
): { stream: Readable; digest: Promise<string> } {
  const hash = createHash('sha256');
  let sent = 0;
  let state = seed >>> 0 || 1;
  let resolveDigest!: (value: string) => void;
  const digest = new Promise<string>((resolve) => (resolveDigest = resolve));
  const stream = new Readable({
    read() {
      if (sent >= size) {
        resolveDigest(`sha256:${hash.digest('hex')}`);
        this.push(null);
        return;
      }
      const piece = Buffer.allocUnsafe(Math.min(pieceSize, size - sent));
      for (let index = 0; index < piece.length; index++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        piece[index] = state & 0xff;
      }
      hash.update(piece);
      sent += piece.length;
      this.push(piece);
    },
  });
  return { stream, digest };
}

/** Downloads a URL path and returns the sha256 digest and length of its body, streaming. */
export function digestOfDownload(
  base: string,
  path: string,
): Promise<{ status: number; digest: string; size: number }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: url.hostname, port: url.port, path, agent: false }, (response) => {
      const hash = createHash('sha256');
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      response.on('error', reject);
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, size }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

/**
 * The benchmark's HTTP client: node:http with keep-alive, bodies streamed from files, responses
 * counted rather than kept (except small ones). Large bodies never sit in memory.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Bytes of body received. */
  bytes: number;
  /** The body, when asked for (small responses only). */
  body?: Buffer;
}

export interface RequestOptions {
  method: string;
  headers?: Record<string, string | number>;
  /** A small body in memory, or a stream (from a file) for large ones. */
  body?: Buffer | Readable;
  keepBody?: boolean;
}

export function request(url: string, options: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (Buffer.isBuffer(options.body)) headers['Content-Length'] = options.body.length;
    else if (options.body === undefined && options.method !== 'GET' && options.method !== 'HEAD')
      headers['Content-Length'] = 0;
    const req = http.request(url, { method: options.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keepBody) chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes,
          body: options.keepBody ? Buffer.concat(chunks) : undefined,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body === undefined) req.end();
    else if (Buffer.isBuffer(options.body)) req.end(options.body);
    else pipeline(options.body, req).catch(reject);
  });
}

/** A file (or a byte range of it, inclusive) as a request body stream. */
export function fileBody(path: string, range?: { start: number; end: number }): Readable {
  return createReadStream(path, { start: range?.start, end: range?.end, highWaterMark: 1024 * 1024 });
}

/** Throws unless the reply has the expected status; the message carries the body for diagnosis. */
export function expectStatus(reply: Reply, expected: number, what: string): Reply {
  if (reply.status !== expected) {
    const detail = reply.body ? `: ${reply.body.toString('utf8').slice(0, 300)}` : '';
    throw new Error(`${what}: expected ${expected}, got ${reply.status}${detail}`);
  }
  return reply;
}

/** Resolves a Location header against the server's base URL (Distribution and Berth send absolute ones). */
export function resolveLocation(base: string, reply: Reply): URL {
  const location = reply.headers.location;
  if (!location) throw new Error(`no Location header (status ${reply.status})`);
  return new URL(location, base);
}

/**
 * curl for the bulk transfers (the body of a monolithic push, pulls), when it is installed: a C
 * client spends far less CPU per byte than Node's, so on a two-core machine the numbers say more
 * about the server. The same client serves both registries.
 */
export function haveCurl(): boolean {
  return spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface CurlResult {
  status: number;
  /** Bytes received. */
  bytes: number;
}

export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-s', '-S', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    // 'close', not 'exit': only then has everything curl printed been read.
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl exited ${code}: ${err.trim()}`));
      const [status, bytes] = out.trim().split(' ').map(Number);
      resolve({ status: status ?? 0, bytes: bytes ?? 0 });
    });
  });
}

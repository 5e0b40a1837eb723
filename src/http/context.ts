/**
 * What every route handler receives: the request and reply, the matched route's parameters,
 * the registry, the settings that shape responses, and helpers for the inputs every handler
 * validates the same way (names, digests, pagination, bodies).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isValidName, parseDigest, type Digest } from '../api/reference.js';
import { RegistryError, errors } from '../api/errors.js';
import type { Notifier } from '../notifications/notifier.js';
import type { PullThroughCache } from '../registry/proxy/cache.js';
import type { Registry } from '../registry/registry.js';
import type { UpstreamClaim } from '../request/upstream.js';
import { originOf } from '../request/client.js';

export interface Settings {
  deleteEnabled: boolean;
  readOnly: boolean;
  manifestMaxSize: number;
  catalogMaxEntries: number;
  /**
   * Whether `?mount=` without `from` links any stored blob. Off under access control: the caller
   * would get a blob of a repository it may not read, by its digest alone.
   */
  mountWithoutFrom: boolean;
  /** Absolute base URL for Location headers (`http.host`), or undefined to use the request's. */
  host?: string;
  relativeUrls: boolean;
  /** `http.prefix` without its trailing slash ("" when the API is at the root). */
  prefix: string;
}

export interface Context {
  request: FastifyRequest;
  reply: FastifyReply;
  registry: Registry;
  settings: Settings;
  query: URLSearchParams;
  /** Raw `<name>` from the URL (validate with `name()`). */
  rawName: string;
  /** Raw tag, digest or upload UUID from the URL. */
  rawReference: string;
  /** Where registry events are recorded (src/http/events.ts); absent when nothing listens. */
  events?: Notifier;
  /** The pull-through cache and the upstream claiming this repository, for cached repositories. */
  proxy?: { cache: PullThroughCache; claim: UpstreamClaim };
}

export type Handler = (context: Context) => Promise<void>;
export type MethodHandlers = Partial<Record<'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', Handler>>;

/** The repository name from the URL, checked against the spec's grammar. */
export function repositoryName(context: Context): string {
  if (!isValidName(context.rawName)) throw errors.nameInvalid(context.rawName);
  return context.rawName;
}

export function digestParam(value: string): Digest {
  const parsed = parseDigest(value);
  if (!parsed.ok) throw errors.digestInvalid({ digest: value }, `invalid digest: ${parsed.reason}`);
  return parsed.digest;
}

/** Turns an API path into what a Location header carries: absolute unless configured relative. */
export function location(context: Context, path: string): string {
  const prefixed = `${context.settings.prefix}${path}`;
  if (context.settings.relativeUrls) return prefixed;
  return `${originOf(context.request.berth.origin, context.settings.host)}${prefixed}`;
}

/** `n` and `last` of a paginated listing; `n` is clamped to `max`. */
export function pagination(context: Context, max: number): { n: number | undefined; last: string | undefined } {
  const rawN = context.query.get('n');
  let n: number | undefined;
  if (rawN !== null && rawN !== '') {
    if (!/^\d+$/.test(rawN)) {
      throw new RegistryError(
        'UNSUPPORTED',
        `query parameter n must be a non-negative integer, not "${rawN}"`,
        { n: rawN },
        { status: 400 },
      );
    }
    n = Math.min(Number(rawN), max);
  }
  const last = context.query.get('last') ?? undefined;
  return { n, last: last === '' ? undefined : last };
}

/** One page of a sorted list: entries after `last`, at most `n`, and whether more follow. */
export function page(
  entries: readonly string[],
  n: number | undefined,
  last: string | undefined,
  visible?: (entry: string) => boolean,
): { items: string[]; more: boolean } {
  const start = last === undefined ? 0 : firstAfter(entries, last);
  if (!visible) {
    if (n === undefined) return { items: entries.slice(start), more: false };
    const items = entries.slice(start, start + n);
    return { items, more: n > 0 && start + n < entries.length };
  }
  // Filtered as the page fills, so a page costs its own length, not the whole list's.
  const items: string[] = [];
  let index = start;
  for (; index < entries.length && (n === undefined || items.length < n); index += 1) {
    if (visible(entries[index]!)) items.push(entries[index]!);
  }
  let more = false;
  if (n !== undefined && n > 0) {
    for (; index < entries.length && !more; index += 1) more = visible(entries[index]!);
  }
  return { items, more };
}

/** The index of the first entry after `last` in entries sorted in byte order: a binary search. */
export function firstAfter(entries: readonly string[], last: string): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (entries[middle]! > last) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** `Link: <url>; rel="next"` as Distribution writes it (a path, relative to the registry). */
export function setNextLink(context: Context, path: string): void {
  context.reply.header('Link', `<${context.settings.prefix}${path}>; rel="next"`);
}

/**
 * Reads a small body whole; undefined when it is longer than `limit` bytes. The stream is left
 * open (never destroyed), so that the error handler can read and drop the rest and the client
 * gets to read the refusal on a connection that stays usable.
 */
export function readBoundedBody(raw: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (Number(raw.headers['content-length'] ?? 0) > limit) return Promise.resolve(undefined);
  if (raw.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => raw.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        done();
        raw.pause();
        resolve(undefined);
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onClose = () => {
      done();
      if (raw.complete) resolve(Buffer.concat(chunks, total));
      else reject(Object.assign(new Error('request body ended early'), { code: 'ECONNRESET' }));
    };
    raw.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}

/** Reads a manifest-sized body whole, refusing more than `limit` bytes with 413. */
export async function readSmallBody(request: FastifyRequest, limit: number): Promise<Buffer> {
  const body = await readBoundedBody(request.raw, limit);
  if (body === undefined)
    throw new RegistryError(
      'MANIFEST_INVALID',
      `manifest exceeds the size limit of ${limit} bytes`,
      { limit },
      { status: 413 },
    );
  return body;
}

/** Whether an `If-None-Match` header names this ETag (or `*`). */
export function matchesETag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag || tag === etag.replace(/"/g, '');
  });
}

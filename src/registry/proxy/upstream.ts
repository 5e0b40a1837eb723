/**
 * One upstream registry of the pull-through cache, spoken to through the client library
 * (src/client: Basic and the Docker token flow, digest checks), with what a cache needs on top:
 *
 * - failover: its URLs are tried in order when one is unreachable or answers 5xx, and the one
 *   that answered last is tried first next time;
 * - a bound on time (`timeout`): a slow upstream counts as unreachable, so a cached copy is served;
 * - `429` and `Retry-After` are honoured: until then the upstream is not asked at all;
 * - an optional cap on requests per window, counted before each request.
 *
 * Failures come out as UpstreamError, which says whether the upstream refused (a 4xx answer,
 * passed on to the client as the upstream gave it) or could not be used (stale copies may be served).
 */
import { inSpan } from '../../tracing/spans.js';
import type { Readable } from 'node:stream';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import { rateLimiterFlexible } from '../../shared/rate-limiter-flexible.js';
import { ClientError } from '../../client/errors.js';
import { RegistryClient } from '../../client/registry-client.js';
import type { ContentInfo, FetchedManifest } from '../../client/types.js';

export interface UpstreamSettings {
  /** The name requests reach it by (`docker.io`), or "proxy" for Distribution's section. */
  name: string;
  urls: string[];
  username?: string;
  password?: string;
  /** Cached content unpulled for this long expires (0: never). */
  ttlMs: number;
  /** A cached tag is revalidated at most once per interval (0: on every pull). */
  revalidateMs: number;
  timeoutMs: number;
  rateLimit?: { requests: number; windowMs: number };
}

/** Why the upstream gave no answer we can use. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    /**
     * `refused`: the upstream answered with an error (404, 401, …) to pass on; `throttled`: it
     * said 429, or our own cap on requests to it is spent; `unavailable`: unreachable, timed out, 5xx.
     */
    readonly kind: 'refused' | 'throttled' | 'unavailable',
    readonly status?: number,
    readonly errors: Array<{ code: string; message?: string; detail?: unknown }> = [],
    /** Seconds until it may be asked again (throttled). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** How long to leave an upstream alone after a 429 that names no time. */
const DEFAULT_BACKOFF_SECONDS = 60;

export class Upstream {
  private readonly clients: RegistryClient[];
  /** Index of the URL that answered last. */
  private preferred = 0;
  /** Epoch ms before which the upstream is not asked (after a 429). */
  private quietUntil = 0;
  private readonly limiter?: RateLimiterMemory;

  constructor(readonly settings: UpstreamSettings) {
    const credentials =
      settings.username === undefined ? false : { username: settings.username, password: settings.password ?? '' };
    this.clients = settings.urls.map(
      (url) =>
        new RegistryClient(url, {
          credentials,
          // Retries would hammer an upstream that is failing or limiting us: the cache answers instead.
          retries: 0,
          idleTimeoutMs: settings.timeoutMs,
          userAgent: 'berth-proxy',
        }),
    );
    if (settings.rateLimit) {
      this.limiter = new (rateLimiterFlexible().RateLimiterMemory)({
        points: settings.rateLimit.requests,
        duration: Math.max(1, Math.ceil(settings.rateLimit.windowMs / 1000)),
      });
    }
  }

  get name(): string {
    return this.settings.name;
  }

  /** The manifest's digest by HEAD (sparing the upstream's pull budget); undefined when it has none. */
  headManifest(remote: string, reference: string): Promise<ContentInfo | undefined> {
    return this.call((client) => client.headManifest(remote, reference));
  }

  getManifest(remote: string, reference: string): Promise<FetchedManifest> {
    return this.call((client) => client.getManifest(remote, reference));
  }

  headBlob(remote: string, digest: string): Promise<ContentInfo | undefined> {
    return this.call((client) => client.headBlob(remote, digest));
  }

  /** The blob's bytes as they arrive; the stream fails at its end unless they hash to `digest`. */
  openBlob(remote: string, digest: string): Promise<{ stream: Readable; size: number | undefined }> {
    return this.call((client) => client.openBlob(remote, digest));
  }

  tags(remote: string): Promise<string[]> {
    return this.call((client) => client.tags(remote));
  }

  close(): void {
    for (const client of this.clients) client.close();
  }

  private async call<T>(request: (client: RegistryClient) => Promise<T>): Promise<T> {
    const now = Date.now();
    if (now < this.quietUntil) {
      const seconds = Math.ceil((this.quietUntil - now) / 1000);
      throw new UpstreamError(
        `${this.name} asked us to wait (429) for ${seconds} s more`,
        'throttled',
        429,
        [],
        seconds,
      );
    }
    await this.spend();
    let last: UpstreamError | undefined;
    for (let attempt = 0; attempt < this.clients.length; attempt++) {
      const index = (this.preferred + attempt) % this.clients.length;
      try {
        const url = this.settings.urls[index]!;
        const result = await inSpan(`upstream ${this.name}`, { 'server.address': url }, () =>
          request(this.clients[index]!),
        );
        this.preferred = index;
        return result;
      } catch (error) {
        last = this.classify(error, this.settings.urls[index]!);
        // A refusal or a 429 is the registry's answer: another URL of it would say the same.
        if (last.kind !== 'unavailable') break;
      }
    }
    throw last!;
  }

  private async spend(): Promise<void> {
    if (!this.limiter) return;
    try {
      await this.limiter.consume(this.name);
    } catch (result) {
      if (!(result instanceof rateLimiterFlexible().RateLimiterRes)) throw result;
      const seconds = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
      throw new UpstreamError(
        `the cap on requests to ${this.name} (berth.proxy.upstreams.${this.name}.ratelimit) is spent for ${seconds} s`,
        'throttled',
        429,
        [],
        seconds,
      );
    }
  }

  private classify(error: unknown, url: string): UpstreamError {
    if (error instanceof UpstreamError) return error;
    if (!(error instanceof ClientError)) {
      return new UpstreamError(`${url}: ${(error as Error).message}`, 'unavailable');
    }
    const status = error.status;
    if (status === 429) {
      const seconds = error.details.retryAfter ?? DEFAULT_BACKOFF_SECONDS;
      this.quietUntil = Math.max(this.quietUntil, Date.now() + seconds * 1000);
      return new UpstreamError(error.message, 'throttled', 429, error.details.errors, seconds);
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return new UpstreamError(error.message, 'refused', status, error.details.errors);
    }
    return new UpstreamError(error.message, 'unavailable', status, error.details.errors);
  }
}

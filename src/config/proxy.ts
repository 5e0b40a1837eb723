/**
 * Pull-through caching (docs/proxy.md). Two sections:
 *
 * - `proxy`: Distribution's own, verbatim (`remoteurl`, `username`, `password`, `ttl`): the whole
 *   registry mirrors one upstream and refuses pushes and deletes.
 * - `berth.proxy`: several upstreams behind one endpoint, each claiming the repositories below its
 *   name (`/v2/docker.io/library/nginx/…`, or `/v2/library/nginx/…?ns=docker.io` as containerd
 *   asks), with failover URLs, credentials, expiry, revalidation and a cap on requests sent to it.
 *   Repositories no upstream claims stay ordinary push/pull repositories.
 */
import { z } from 'zod';
import { count, duration, text } from './values.js';

/** Distribution's default: cached content expires a week after it was last pulled. */
export const DEFAULT_PROXY_TTL_MS = 168 * 3_600_000;

const url = text.refine(
  (value) => /^https?:\/\/[^/]+/.test(value),
  'must be an http(s) URL such as https://registry-1.docker.io',
);

export const distributionProxy = z.strictObject({
  remoteurl: url,
  username: text.optional(),
  password: text.optional(),
  /** 0 turns expiry off, as in Distribution. */
  ttl: duration.default(DEFAULT_PROXY_TTL_MS),
  /** Distribution's credential helper; not run by Berth (warned about at start). */
  exec: z.unknown().optional(),
});

/** Names an upstream is reached by: a registry host name such as docker.io or ghcr.io. */
const UPSTREAM_NAME = /^[a-z0-9]+(?:[.-][a-z0-9]+)*$/;

const upstream = z.strictObject({
  /** Tried in order: the next one when a URL is unreachable or answers 5xx. */
  urls: z.union([url.transform((value) => [value]), z.array(url).min(1)]),
  username: text.optional(),
  password: text.optional(),
  /** Cached content not pulled for this long is removed by the next garbage collection; 0: never. */
  ttl: duration.default(DEFAULT_PROXY_TTL_MS),
  /** A cached tag is asked about upstream at most once per this interval; 0: on every pull. */
  revalidate: duration.default(0),
  /** Time the upstream has to answer before a cached copy is served instead. */
  timeout: duration.default(30_000),
  /** At most this many requests to the upstream per window (`{ requests: 100, window: 1m }`). */
  ratelimit: z.strictObject({ requests: count, window: duration.default(60_000) }).optional(),
});

export const berthProxy = z
  .strictObject({
    upstreams: z.record(z.string(), upstream).default({}),
    /** Bytes all cached content may take; least recently pulled content goes first. */
    maxsize: z.coerce.number().int().positive().optional(),
  })
  .superRefine((value, context) => {
    for (const name of Object.keys(value.upstreams)) {
      if (!UPSTREAM_NAME.test(name)) {
        context.addIssue({
          code: 'custom',
          path: ['upstreams', name],
          message:
            'an upstream is named by its registry host, in lower case without a port (docker.io, ghcr.io, registry.example.com)',
        });
      }
    }
  });

export type DistributionProxyConfig = z.infer<typeof distributionProxy>;
export type BerthProxyConfig = z.infer<typeof berthProxy>;
export type UpstreamConfig = z.infer<typeof upstream>;

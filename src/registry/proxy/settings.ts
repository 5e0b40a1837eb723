/**
 * The pull-through cache's settings, from either section (config/proxy.ts): Distribution's
 * `proxy:` becomes one upstream named "proxy" that claims every repository; `berth.proxy`'s
 * upstreams claim the repositories below their names.
 */
import type { Config } from '../../config/schema.js';
import { MIRROR_UPSTREAM } from '../../request/upstream.js';
import type { UpstreamSettings } from './upstream.js';

export interface ProxySettings {
  /** Distribution's `proxy:` is set: the whole registry mirrors one upstream. */
  mirror: boolean;
  upstreams: UpstreamSettings[];
  /** Bytes cached content may take in all (least recently pulled goes first); undefined: no cap. */
  maxSize?: number;
}

export function proxySettings(config: Config): ProxySettings | undefined {
  const mirror = config.proxy;
  if (mirror) {
    return {
      mirror: true,
      upstreams: [
        {
          name: MIRROR_UPSTREAM,
          urls: [mirror.remoteurl],
          username: mirror.username,
          password: mirror.password,
          ttlMs: mirror.ttl,
          revalidateMs: 0,
          timeoutMs: 30_000,
        },
      ],
    };
  }
  const own = config.berth.proxy;
  if (!own || Object.keys(own.upstreams).length === 0) return undefined;
  return {
    mirror: false,
    maxSize: own.maxsize,
    upstreams: Object.entries(own.upstreams).map(([name, upstream]) => ({
      name,
      urls: upstream.urls,
      username: upstream.username,
      password: upstream.password,
      ttlMs: upstream.ttl,
      revalidateMs: upstream.revalidate,
      timeoutMs: upstream.timeout,
      rateLimit: upstream.ratelimit && { requests: upstream.ratelimit.requests, windowMs: upstream.ratelimit.window },
    })),
  };
}

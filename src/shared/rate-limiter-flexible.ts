/**
 * rate-limiter-flexible, loaded on first use: by the first budget counted in Redis
 * (src/ratelimit/limiter.ts) or the first upstream with a request cap (src/registry/proxy/
 * upstream.ts). A registry that uses neither never loads it.
 */
import { createRequire } from 'node:module';

export type RateLimiterFlexible = typeof import('rate-limiter-flexible');

let loaded: RateLimiterFlexible | undefined;

export function rateLimiterFlexible(): RateLimiterFlexible {
  loaded ??= createRequire(import.meta.url)('rate-limiter-flexible') as RateLimiterFlexible;
  return loaded;
}

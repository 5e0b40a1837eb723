/**
 * The rate-limit headers, in Docker Hub's format:
 *
 *   RateLimit-Limit: 100;w=21600
 *   RateLimit-Remaining: 76;w=21600
 *
 * and the refusal: 429 with the spec's TOOMANYREQUESTS error and `Retry-After` in seconds.
 * A request counted against several budgets reports the one closest to refusing it.
 */
import { rateLimitRefusals } from '../metrics/families.js';
import { RegistryError } from '../api/errors.js';
import type { ChargedBudget } from '../request/state.js';
import type { Count } from './limiter.js';

export const LIMIT_HEADER = 'RateLimit-Limit';
export const REMAINING_HEADER = 'RateLimit-Remaining';

export function rateLimitHeaders(count: ChargedBudget): Record<string, string> {
  const window = `w=${count.budget.windowSeconds}`;
  return {
    [LIMIT_HEADER]: `${count.budget.limit};${window}`,
    [REMAINING_HEADER]: `${count.remaining};${window}`,
  };
}

/** The count to report: the fewest remaining; among equals, the budget listed last (the most specific). */
export function closestToLimit<T extends ChargedBudget>(counts: readonly T[]): T | undefined {
  let chosen: T | undefined;
  for (const count of counts) if (!chosen || count.remaining <= chosen.remaining) chosen = count;
  return chosen;
}

/** Whole seconds until the window ends, at least 1. */
export function retryAfterSeconds(count: Count): number {
  return Math.max(1, Math.ceil(count.resetMs / 1000));
}

const WHAT: Record<string, string> = {
  requests: 'requests',
  pulls: 'pulls (manifest GETs)',
  uploads: 'uploads started',
  tokens: 'token requests',
  failedlogins: 'failed logins',
};

/** The 429 for a budget that is spent. */
export function tooManyRequests(count: Count, who: string): RegistryError {
  const { name, limit, windowSeconds } = count.budget;
  rateLimitRefusals.inc({ budget: name });
  const retryAfter = retryAfterSeconds(count);
  const message =
    name === 'failedlogins'
      ? `too many failed logins from ${who} (${limit} in ${windowSeconds} s); try again in ${retryAfter} s`
      : `rate limit reached for ${who}: ${limit} ${WHAT[name]} per ${windowSeconds} s; try again in ${retryAfter} s`;
  return new RegistryError(
    'TOOMANYREQUESTS',
    message,
    { budget: name, limit, window: windowSeconds, retryAfter },
    {
      headers: { ...rateLimitHeaders({ ...count, remaining: 0 }), 'Retry-After': String(retryAfter) },
    },
  );
}

/** Shared pieces of the rate-limit tests: ending a window, and reading the headers. */
import assert from 'node:assert/strict';
import type { ManualClock } from '../helpers/clock.js';
import { assertError, type HttpReply } from '../helpers/http.js';

/** Moves the server's clock past the end of any window of `seconds` that started before now. */
export function endWindow(clock: ManualClock, seconds: number): void {
  clock.advance(seconds * 1000 + 1);
}

/** Asserts Docker Hub's header pair exactly. */
export function assertBudget(reply: HttpReply, limit: number, remaining: number, window: number, context = ''): void {
  assert.equal(reply.header('ratelimit-limit'), `${limit};w=${window}`, `${context} RateLimit-Limit`);
  assert.equal(reply.header('ratelimit-remaining'), `${remaining};w=${window}`, `${context} RateLimit-Remaining`);
}

export function assertNoBudget(reply: HttpReply, context = ''): void {
  assert.equal(reply.header('ratelimit-limit'), undefined, `${context} no RateLimit-Limit`);
  assert.equal(reply.header('ratelimit-remaining'), undefined, `${context} no RateLimit-Remaining`);
}

/** Asserts a 429 with TOOMANYREQUESTS, a Retry-After within the window, and the spent budget's headers. */
export function assertRefused(reply: HttpReply, limit: number, window: number, context = ''): void {
  assertError(reply, 429, 'TOOMANYREQUESTS', context);
  const retryAfter = Number(reply.header('retry-after'));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= window,
    `${context} Retry-After ${reply.header('retry-after')}`,
  );
  assertBudget(reply, limit, 0, window, context);
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

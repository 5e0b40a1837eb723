/**
 * Redis does not answer and the operation cannot go on without it: the shared upload lock of
 * instances over storage that offers no exclusive create (S3, Azure). Nothing was written; the
 * client retries later (src/http/errors.ts answers 503 UNAVAILABLE with Retry-After).
 */
import { RegistryError } from '../api/errors.js';

/** Seconds a client is told to wait: ioredis tries to reconnect at least every 2 s. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

export class RedisUnavailableError extends RegistryError {
  constructor(
    /** What needs Redis, for the message ("blob uploads"). */
    readonly purpose: string,
    /** Why Redis counts as unavailable (not connected, no answer in time). */
    readonly reason: string,
  ) {
    super(
      'UNAVAILABLE',
      `${purpose} need Redis, which is unavailable (${reason}); nothing was stored, retry once it is back`,
      { redis: reason },
    );
    this.name = 'RedisUnavailableError';
  }
}

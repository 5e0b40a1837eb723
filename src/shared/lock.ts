/**
 * Mutual exclusion per key (one upload session, for example), within one process or across every
 * Berth instance that shares a Redis.
 *
 * The Redis lock is the usual single-instance one: `SET key token NX PX ttl` to take it, a Lua
 * compare-and-delete to release it, and a compare-and-extend every third of the TTL while the work
 * runs, so a long request (a 1 GiB PATCH) keeps it and a crashed instance's lock expires after one
 * TTL. Waiters poll with backoff, up to a bound. Within one process, waiters queue on a local lock
 * first, so Redis sees one contender per instance.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from '../registry/keyed-lock.js';
import { KEY_PREFIX, type RedisClient } from './redis.js';

export interface Locker {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
}

export class LockTimeoutError extends Error {
  constructor(key: string, waitedMs: number) {
    super(`lock ${JSON.stringify(key)} still held by another instance after ${waitedMs} ms`);
    this.name = 'LockTimeoutError';
  }
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLockOptions {
  /** How long a lock outlives an instance that stopped renewing it. */
  ttlMs?: number;
  /** How long a caller waits for a lock before giving up. */
  waitMs?: number;
}

export class RedisLocker implements Locker {
  private readonly local = new KeyedLock();
  private readonly ttlMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly redis: RedisClient,
    options: RedisLockOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.waitMs = options.waitMs ?? 120_000;
  }

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      const redisKey = `${KEY_PREFIX}lock:${key}`;
      const token = randomUUID();
      await this.acquire(redisKey, token, key);
      const renewal = setInterval(
        () => {
          this.redis.eval(EXTEND, 1, redisKey, token, String(this.ttlMs)).catch(() => undefined);
        },
        Math.max(Math.floor(this.ttlMs / 3), 10),
      );
      renewal.unref();
      try {
        return await work();
      } finally {
        clearInterval(renewal);
        await this.redis.eval(RELEASE, 1, redisKey, token).catch(() => undefined);
      }
    });
  }

  private async acquire(redisKey: string, token: string, key: string): Promise<void> {
    const started = Date.now();
    let pause = 5;
    for (;;) {
      if ((await this.redis.set(redisKey, token, 'PX', this.ttlMs, 'NX')) === 'OK') return;
      if (Date.now() - started > this.waitMs) throw new LockTimeoutError(key, Date.now() - started);
      await sleep(pause);
      pause = Math.min(pause * 2, 200);
    }
  }
}

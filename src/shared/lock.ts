/**
 * Mutual exclusion per key (one upload session, for example), within one process or across every
 * Berth instance that shares a Redis.
 *
 * The Redis lock is the usual single-instance one: `SET key token NX PX ttl` to take it, a Lua
 * compare-and-delete to release it, and a compare-and-extend every third of the TTL while the work
 * runs, so a long request (a 1 GiB PATCH) keeps it and a crashed instance's lock expires after one
 * TTL. Waiters poll with backoff, up to a bound. Within one process, waiters queue on a local lock
 * first, so Redis sees one contender per instance.
 *
 * While Redis does not answer, the lock does what its owner chose (`whenDown`): `local` runs the
 * work under the local lock alone, for owners that something else already serialises across
 * processes (the upload lock files of a filesystem) or that only save work with the lock (the
 * pull-through cache); `refuse` throws RedisUnavailableError (503), for the uploads of instances
 * sharing a bucket. Either way the answer is immediate and the outage is logged once.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from '../registry/keyed-lock.js';
import type { OutageLog } from './outage.js';
import { KEY_PREFIX, redisUnready, type RedisClient } from './redis.js';
import { RedisUnavailableError } from './unavailable.js';

export interface Locker {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Throws when `run` would refuse at once now (the shared lock's Redis is down), before work starts. */
  ensureAvailable?(): Promise<void>;
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
  /** While Redis does not answer: run under the local lock alone, or refuse (the default). */
  whenDown?: 'local' | 'refuse';
  /** What the lock is for, in RedisUnavailableError's message ("blob uploads"). */
  purpose?: string;
  /** Told when Redis stops answering and when it answers again. */
  outage?: OutageLog;
}

export class RedisLocker implements Locker {
  private readonly local = new KeyedLock();
  private readonly ttlMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisLockOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.waitMs = options.waitMs ?? 120_000;
  }

  async ensureAvailable(): Promise<void> {
    if (this.options.whenDown === 'local') return;
    const unready = await redisUnready(this.redis);
    if (unready) this.down(new Error(unready));
  }

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      const redisKey = `${KEY_PREFIX}lock:${key}`;
      const token = randomUUID();
      if (!(await this.acquire(redisKey, token, key))) return work();
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

  /** True once the lock is held in Redis; false when Redis is down and the work runs locally. */
  private async acquire(redisKey: string, token: string, key: string): Promise<boolean> {
    const started = Date.now();
    let pause = 5;
    for (;;) {
      let taken: boolean;
      try {
        const unready = await redisUnready(this.redis);
        if (unready) throw new Error(unready);
        taken = (await this.redis.set(redisKey, token, 'PX', this.ttlMs, 'NX')) === 'OK';
      } catch (error) {
        return this.down(error);
      }
      this.options.outage?.answered();
      if (taken) return true;
      if (Date.now() - started > this.waitMs) throw new LockTimeoutError(key, Date.now() - started);
      await sleep(pause);
      pause = Math.min(pause * 2, 200);
    }
  }

  /** Redis failed: false to run locally, or RedisUnavailableError. */
  private down(error: unknown): false {
    this.options.outage?.failed(error);
    if (this.options.whenDown === 'local') return false;
    const reason = (error as Error | undefined)?.message || String(error);
    throw new RedisUnavailableError(this.options.purpose ?? 'these requests', reason);
  }
}

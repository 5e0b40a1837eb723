/**
 * One deliverer per endpoint among the instances sharing an outbox, so events go out once and in
 * order: a lease in Redis when instances share one (`SET NX PX`, extended while held), else a
 * lease file in storage, which also covers `berth.workers` processes on one machine. A holder
 * that dies stops renewing; another instance takes over after the TTL (at once, on the same
 * machine, when the holder's process is gone). Two holders at once only repeat a delivery,
 * which at-least-once allows; so while Redis is down the lease file stands in (FallbackLease).
 */
import { randomUUID } from 'node:crypto';
import type { StorageDriver } from '../storage/driver.js';
import type { OutageLog } from '../shared/outage.js';
import { KEY_PREFIX, redisUnready, type RedisClient } from '../shared/redis.js';
import { StorageLease as FileLease } from '../shared/storage-lease.js';

export interface DeliveryLease {
  /** True when this instance holds the lease now (taking or extending it). */
  claim(): Promise<boolean>;
  release(): Promise<void>;
}

export const LEASE_TTL_MS = 15_000;

const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisLease implements DeliveryLease {
  private readonly token = randomUUID();
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    endpoint: string,
    private readonly ttlMs = LEASE_TTL_MS,
  ) {
    this.key = `${KEY_PREFIX}notifications:lease:${endpoint}`;
  }

  async claim(): Promise<boolean> {
    const unready = await redisUnready(this.redis);
    if (unready) throw new Error(unready);
    if (Number(await this.redis.eval(EXTEND, 1, this.key, this.token, String(this.ttlMs))) === 1) return true;
    return (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
  }
}

/** The lease file in storage (`_berth/events/<endpoint>/lease`). */
export class StorageLease extends FileLease implements DeliveryLease {
  constructor(driver: StorageDriver, path: string, ttlMs = LEASE_TTL_MS) {
    super(driver, path, ttlMs);
  }
}

/**
 * The Redis lease while Redis answers, the lease file while it does not, so events keep going out
 * during a Redis outage. While instances disagree about Redis (one still connected, one not) both
 * may deliver for up to a TTL, which only repeats deliveries.
 */
export class FallbackLease implements DeliveryLease {
  private onStorage = false;

  constructor(
    private readonly redis: RedisLease,
    private readonly storage: StorageLease,
    private readonly outage?: OutageLog,
  ) {}

  async claim(): Promise<boolean> {
    let held: boolean;
    try {
      held = await this.redis.claim();
    } catch (error) {
      this.outage?.failed(error);
      this.onStorage = true;
      return this.storage.claim();
    }
    this.outage?.answered();
    if (this.onStorage) {
      this.onStorage = false;
      await this.storage.release().catch(() => undefined);
    }
    return held;
  }

  async release(): Promise<void> {
    await Promise.all([this.redis.release(), this.onStorage ? this.storage.release() : undefined]);
  }
}

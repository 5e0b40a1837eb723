/**
 * One deliverer per endpoint among the instances sharing an outbox, so events go out once and in
 * order: a lease in Redis when instances share one (`SET NX PX`, extended while held), else a
 * lease file in storage, which also covers `berth.workers` processes on one machine. A holder
 * that dies stops renewing; another instance takes over after the TTL (at once, on the same
 * machine, when the holder's process is gone). Two holders at once only repeat a delivery,
 * which at-least-once allows; so while Redis is down the lease file stands in (FallbackLease).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/driver.js';
import type { OutageLog } from '../shared/outage.js';
import { KEY_PREFIX, redisUnready, type RedisClient } from '../shared/redis.js';

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

interface Holder {
  owner: string;
  pid: number;
  host: string;
  expires: number;
}

/** Whether a process of this machine is still running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StorageLease implements DeliveryLease {
  private readonly owner = randomUUID();

  constructor(
    private readonly driver: StorageDriver,
    private readonly path: string,
    private readonly ttlMs = LEASE_TTL_MS,
  ) {}

  async claim(): Promise<boolean> {
    const holder = await this.read();
    if (holder && holder.owner !== this.owner && !this.free(holder)) return false;
    const taking = holder?.owner !== this.owner;
    await this.write();
    if (!taking) return true;
    // Another process may have written at the same moment: the file's last writer has it.
    await sleep(20);
    return (await this.read())?.owner === this.owner;
  }

  async release(): Promise<void> {
    if ((await this.read())?.owner !== this.owner) return;
    await this.driver.delete(this.path).catch(() => undefined);
  }

  private free(holder: Holder): boolean {
    if (holder.expires <= Date.now()) return true;
    return holder.host === hostname() && holder.pid !== process.pid && !alive(holder.pid);
  }

  private async read(): Promise<Holder | undefined> {
    try {
      return JSON.parse((await this.driver.getContent(this.path)).toString('utf8')) as Holder;
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  private async write(): Promise<void> {
    const holder: Holder = { owner: this.owner, pid: process.pid, host: hostname(), expires: Date.now() + this.ttlMs };
    await this.driver.putContent(this.path, JSON.stringify(holder));
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

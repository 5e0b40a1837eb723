/**
 * One endpoint's deliverer: while this instance holds the endpoint's lease, it sends the pending
 * events one at a time, oldest first, and removes each once the endpoint took it. A failure is
 * retried at once up to `threshold` times in a row, then after `backoff`, doubling up to
 * `maxbackoff`; an event older than `maxage` that still fails moves to the dead letters (at most
 * `maxdead` kept: the oldest beyond are dropped, logged and counted). Because the next event waits
 * for the one before it, events of a repository arrive in the order they happened.
 *
 * It runs beside the requests, never in them: a slow or failing endpoint delays only its own
 * deliveries, and each endpoint has its own deliverer.
 */
import type { Logger } from 'pino';
import type { NotificationEndpointConfig } from '../config/notifications.js';
import { emptyCounters, type EndpointCounters } from './counters.js';
import { deliver } from './delivery.js';
import { LEASE_TTL_MS, type DeliveryLease } from './lease.js';
import type { Outbox, OutboxEntry } from './outbox.js';

export interface DelivererOptions {
  /** How often to look for events recorded elsewhere (another instance, a replay) and for the lease. */
  pollMs: number;
}

export class EndpointDeliverer {
  readonly counters: EndpointCounters = emptyCounters();
  private running = false;
  private loop?: Promise<void>;
  private woken = false;
  private wakeSleeper?: () => void;
  private holding = false;
  private claimedAt = 0;
  private failuresInRow = 0;
  /** Aborts the delivery in flight when stopping, so closing never waits for an endpoint's timeout. */
  private stopping = new AbortController();

  constructor(
    readonly endpoint: NotificationEndpointConfig,
    private readonly outbox: Outbox,
    private readonly lease: DeliveryLease,
    private readonly log: Logger,
    private readonly options: DelivererOptions,
  ) {}

  get delivering(): boolean {
    return this.holding;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wakeSleeper?.();
    await this.loop;
    if (this.holding) await this.lease.release().catch(() => undefined);
    this.holding = false;
  }

  /** New events are in the outbox: look now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeSleeper?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false;
      try {
        worked = await this.pass();
      } catch (error) {
        this.log.warn({ err: error, endpoint: this.endpoint.name }, 'notifications: outbox not readable, retrying');
      }
      if (!worked) await this.sleep(this.options.pollMs, true);
    }
  }

  /** Whether this instance may deliver; the lease is renewed every third of its TTL. */
  private async holds(): Promise<boolean> {
    if (this.holding && Date.now() - this.claimedAt < LEASE_TTL_MS / 3) return true;
    try {
      this.holding = await this.lease.claim();
    } catch (error) {
      this.log.warn({ err: error, endpoint: this.endpoint.name }, 'notifications: delivery lease not reachable');
      this.holding = false;
    }
    this.claimedAt = Date.now();
    return this.holding;
  }

  /** Delivers what is pending, oldest first; false when there was nothing to do. */
  private async pass(): Promise<boolean> {
    this.woken = false;
    if (!(await this.holds())) return false;
    const keys = await this.outbox.keys(this.endpoint.name, 'pending');
    this.counters.pending = keys.length;
    if (keys.length === 0) return false;
    for (const key of keys) {
      if (!this.running || !(await this.holds())) return true;
      await this.deliverOne(key);
      this.counters.pending = Math.max(0, this.counters.pending - 1);
    }
    return true;
  }

  private async deliverOne(key: string): Promise<void> {
    const name = this.endpoint.name;
    const entry = await this.outbox.read(name, 'pending', key);
    if (!entry) return; // delivered meanwhile by another instance
    while (this.running) {
      // Past its age while the endpoint is down: no attempt (a timeout each) for every old event.
      if (this.failuresInRow > 0 && this.expired(entry)) return this.bury(key, entry);
      const result = await deliver(this.endpoint, [entry.event], this.stopping.signal);
      if (!this.running) return; // aborted by stop(): still pending, delivered after the restart
      if (result.status !== undefined) this.counters.lastStatus = result.status;
      if (result.delivered) {
        if (this.failuresInRow > 0) this.log.info({ endpoint: name }, 'notifications: endpoint delivering again');
        this.failuresInRow = 0;
        await this.outbox.remove(name, 'pending', key);
        this.counters.delivered += 1;
        return;
      }
      this.counters.failures += 1;
      this.failuresInRow += 1;
      const delay = this.delay();
      if (this.failuresInRow === 1 || this.failuresInRow === this.endpoint.threshold) {
        this.log.warn(
          { endpoint: name, url: this.endpoint.url, reason: result.reason, retryInMs: delay },
          'notifications: delivery failed, retrying',
        );
      }
      if (this.expired(entry)) return this.bury(key, entry);
      await this.sleep(delay, false);
      if (!(await this.holds())) return;
    }
  }

  private expired(entry: OutboxEntry): boolean {
    return Date.now() - Math.max(entry.recordedAt, entry.replayedAt ?? 0) > this.endpoint.maxage;
  }

  /** At once below the threshold (as Distribution retries), then `backoff` doubling to `maxbackoff`. */
  private delay(): number {
    const { threshold, backoff, maxbackoff } = this.endpoint;
    if (this.failuresInRow < threshold) return 10;
    const doublings = Math.min(this.failuresInRow - threshold, 30);
    return Math.min(backoff * 2 ** doublings, Math.max(maxbackoff, backoff));
  }

  private async bury(key: string, entry: OutboxEntry): Promise<void> {
    const name = this.endpoint.name;
    if (!(await this.outbox.move(name, 'pending', 'dead', key))) return;
    this.counters.dead += 1;
    this.log.warn(
      {
        endpoint: name,
        eventId: entry.event.id,
        action: entry.event.action,
        repository: entry.event.target.repository,
      },
      'notifications: event given up after maxage, kept as a dead letter',
    );
    const dead = await this.outbox.keys(name, 'dead');
    const excess = dead.slice(0, Math.max(0, dead.length - this.endpoint.maxdead));
    for (const old of excess) {
      if (await this.outbox.remove(name, 'dead', old)) {
        this.counters.dropped += 1;
        this.log.warn({ endpoint: name, key: old }, 'notifications: oldest dead letter dropped (maxdead reached)');
      }
    }
    this.counters.deadLetters = dead.length - excess.length;
  }

  /** Waits `ms`; `stop()` ends the wait, and so does `wake()` when `wakeable`. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (!this.running || (wakeable && this.woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleeper = () => {
        if (!this.running || wakeable) done();
      };
    });
  }
}

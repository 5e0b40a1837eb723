/**
 * The one way to record a registry event (docs/notifications.md, docs/architecture.md):
 *
 *   await notifier.record({ action: 'delete', target: { repository, digest } });
 *
 * `record` completes each event (id, timestamp, source), writes it to the outbox of every enabled
 * endpoint whose filters take it, and returns once it is stored: a caller that answers a client
 * afterwards has made the event durable first. Delivery happens beside, in one deliverer per
 * endpoint (deliverer.ts); `stats()` reads their counters.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { NotificationEndpointConfig } from '../config/notifications.js';
import type { NotificationsConfig } from '../config/schema.js';
import type { StorageDriver } from '../storage/driver.js';
import type { RedisClient } from '../shared/redis.js';
import type { EndpointStats } from './counters.js';
import { EndpointDeliverer } from './deliverer.js';
import { completeEvent, type EventInput, type RegistryEvent, type SourceRecord } from './event.js';
import { endpointFilter, type EventFilter } from './filter.js';
import { FallbackLease, RedisLease, StorageLease, type DeliveryLease } from './lease.js';
import { OutageLog } from '../shared/outage.js';
import { KeyMaker, Outbox } from './outbox.js';

export interface NotifierOptions {
  logger: Logger;
  /** Shared by instances: the delivery lease lives there (else in storage). */
  redis?: RedisClient;
  /** The port this instance listens on, for `source.addr` (Distribution writes host:port). */
  port?: string;
  pollMs?: number;
}

interface Route {
  endpoint: NotificationEndpointConfig;
  accepts: EventFilter;
  deliverer: EndpointDeliverer;
}

export class Notifier {
  /** Whether manifest events list the descriptors they reference (`events.includereferences`). */
  readonly includeReferences: boolean;
  private source: SourceRecord;
  private readonly outbox: Outbox;
  private readonly routes: Route[];
  private readonly keys: KeyMaker;

  constructor(config: NotificationsConfig | undefined, driver: StorageDriver, options: NotifierOptions) {
    const instanceID = randomUUID();
    this.includeReferences = config?.events.includereferences ?? false;
    this.source = { addr: options.port === undefined ? hostname() : `${hostname()}:${options.port}`, instanceID };
    this.outbox = new Outbox(driver);
    this.keys = new KeyMaker(instanceID.slice(0, 8));
    const enabled = (config?.endpoints ?? []).filter((endpoint) => !endpoint.disabled);
    this.routes = enabled.map((endpoint) => {
      const inStorage = new StorageLease(driver, this.outbox.leasePath(endpoint.name));
      const lease: DeliveryLease = options.redis
        ? new FallbackLease(
            new RedisLease(options.redis, endpoint.name),
            inStorage,
            new OutageLog(options.logger, {
              down: `notifications: Redis does not answer; endpoint ${endpoint.name} is delivered under a lease file in storage until it is back`,
              back: `notifications: Redis answers again; endpoint ${endpoint.name} is delivered under the Redis lease`,
            }),
          )
        : inStorage;
      const deliverer = new EndpointDeliverer(endpoint, this.outbox, lease, options.logger, {
        pollMs: options.pollMs ?? 1000,
      });
      options.logger.info(
        { endpoint: endpoint.name, url: endpoint.url, timeout: endpoint.timeout, format: endpoint.format },
        `notifications: configuring endpoint ${endpoint.name} (${endpoint.url})`,
      );
      return { endpoint, accepts: endpointFilter(endpoint), deliverer };
    });
  }

  /** The port the server bound (`http.addr` may say 0): `source.addr` is host name and port. */
  listeningOn(port: number): void {
    this.source = { ...this.source, addr: `${hostname()}:${port}` };
  }

  /** Whether any endpoint is on: callers may skip building events when none is. */
  get enabled(): boolean {
    return this.routes.length > 0;
  }

  /**
   * Stores events for every endpoint that takes them, in the order given; resolves once they are
   * in the outbox. Returns the completed events.
   */
  async record(inputs: EventInput | EventInput[]): Promise<RegistryEvent[]> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (this.routes.length === 0 || list.length === 0) return [];
    const now = Date.now();
    const events = list.map((input) => ({
      input,
      event: completeEvent(input, this.source, now),
      key: this.keys.next(now),
    }));
    const writes: Promise<void>[] = [];
    const woken = new Set<EndpointDeliverer>();
    for (const { endpoint, accepts, deliverer } of this.routes) {
      for (const { input, event, key } of events) {
        if (!accepts(input)) continue;
        writes.push(this.outbox.add(endpoint.name, key, { endpoint: endpoint.name, recordedAt: now, event }));
        deliverer.counters.recorded += 1;
        woken.add(deliverer);
      }
    }
    await Promise.all(writes);
    for (const deliverer of woken) deliverer.wake();
    return events.map(({ event }) => event);
  }

  /** Each endpoint's counters (docs/notifications.md#monitoring). */
  stats(): EndpointStats[] {
    return this.routes.map(({ endpoint, deliverer }) => ({
      endpoint: endpoint.name,
      url: endpoint.url,
      delivering: deliverer.delivering,
      ...deliverer.counters,
    }));
  }

  start(): void {
    for (const route of this.routes) route.deliverer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.routes.map((route) => route.deliverer.stop()));
  }
}

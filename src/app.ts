/** Assembles a Berth server from a configuration: logger, storage driver, registry, HTTP. */
import { applyStorageMiddleware } from './storage/middleware.js';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { buildServer, parseListenAddress } from './http/server.js';
import { createLogger } from './logging.js';
import { Notifier } from './notifications/notifier.js';
import { Registry } from './registry/registry.js';
import { policyOptions } from './registry/policies/options.js';
import { Retention } from './registry/policies/retention.js';
import { recordRetentionDeletes } from './notifications/retention.js';
import { gcSettings, OnlineGc } from './registry/gc/scheduler.js';
import { UploadPurger } from './registry/upload-purger.js';
import { createDriver } from './storage/factory.js';
import { parseTcpAddress } from './config/address.js';
import { KeyedLock } from './registry/keyed-lock.js';
import { PullThroughCache } from './registry/proxy/cache.js';
import { proxySettings } from './registry/proxy/settings.js';
import { expireCache } from './registry/proxy/expiry.js';
import { RedisLocker } from './shared/lock.js';
import { OutageLog } from './shared/outage.js';
import { createRedis, logRedisConnection, type RedisClient } from './shared/redis.js';
import { storageSerialisesUploads } from './registry/upload-file-lock.js';
import type { StorageDriver } from './storage/driver.js';
import { DebugServer } from './http/debug-server.js';
import { healthMonitor, type HealthMonitor } from './health/index.js';
import { collectProcessMetrics, METRICS_CONTENT_TYPE, metricsText } from './metrics/index.js';
import { countNotifications } from './metrics/notifications.js';
import { instrumentDriver } from './metrics/storage.js';
import { countStoredBytes } from './metrics/usage.js';
import { handlerOf } from './metrics/http.js';
import { inSpan, Tracing, tracingSettings } from './tracing/index.js';
import type { Clock } from './ratelimit/windows.js';

export interface Berth {
  app: FastifyInstance;
  registry: Registry;
  logger: Logger;
  config: Config;
  /** Present while upload purging is on (`storage.maintenance.uploadpurging`, off in read-only mode). */
  purger?: UploadPurger;
  /** Online garbage collection: on demand at `/_berth/admin/gc`, and every `berth.gc.interval`. */
  gc: OnlineGc;
  /** The Redis shared by instances (Distribution's `redis` block), when configured. */
  redis?: RedisClient;
  /** Registry events and their delivery (`notifications`, docs/notifications.md). */
  notifier: Notifier;
  /** The checks of Distribution's `health` section (none when it is absent). */
  health: HealthMonitor;
  /**
   * What the debug listener serves at the metrics path: this process's metrics, or (set by
   * `berth serve` with worker processes) the sum over every process.
   */
  metrics: () => Promise<string>;
  /** The debug listener's port, once `listen` has started it (`http.debug.addr`). */
  debugPort?: number;
  /**
   * Starts listening on `http.addr` (or the given host and port) and starts upload purging;
   * resolves to the bound address. With `http.net: unix`, `host` is the socket's path and `port` 0.
   */
  listen(override?: { host?: string; port?: number }): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

/** What a program embedding Berth may pass besides the configuration; nothing a client sends reaches these. */
export interface BerthOptions {
  /** The time rate-limit windows read (default `Date.now`), so tests can end a window at once. */
  clock?: Clock;
}

/**
 * The lock of an upload's requests across instances. Where the storage serialises them itself
 * (lock files) uploads go on while Redis is down; over object storage (S3, Azure) they are
 * refused with 503 until it is back, since two instances could otherwise append to one upload at
 * once.
 */
function uploadLock(redis: RedisClient, driver: StorageDriver, log: Logger): RedisLocker {
  const selfSerialised = storageSerialisesUploads(driver);
  return new RedisLocker(redis, {
    whenDown: selfSerialised ? 'local' : 'refuse',
    purpose: 'blob uploads',
    outage: new OutageLog(log, {
      down: selfSerialised
        ? "uploads: Redis does not answer; an upload's requests are kept one at a time by lock files in the storage until it is back"
        : `uploads: Redis does not answer; blob uploads are refused with 503 until it is back (the ${driver.name} storage offers no exclusive create to lock an upload with)`,
      back: 'uploads: Redis answers again; upload locks are shared again',
    }),
  });
}

/** The pull-through cache's lock only saves upstream fetches: without Redis each instance fetches. */
function proxyLock(redis: RedisClient, log: Logger): RedisLocker {
  return new RedisLocker(redis, {
    whenDown: 'local',
    outage: new OutageLog(log, {
      down: 'pull-through cache: Redis does not answer; each instance fetches from upstream on its own until it is back',
      back: 'pull-through cache: Redis answers again; fetches are shared again',
    }),
  });
}

export function createBerth(config: Config, logger?: Logger, options: BerthOptions = {}): Berth {
  const log = logger ?? createLogger(config.log.level, config.log.fields, config.log.formatter);
  if (config.storage.filesystem) {
    config.storage.filesystem.rootdirectory = resolve(config.storage.filesystem.rootdirectory);
  }
  // One Redis client per process: upload locks across instances (docs/s3.md), rate-limit counters.
  const redis = createRedis(config.redis);
  if (redis) logRedisConnection(redis, log);
  const metricsOn = config.http.debug?.prometheus?.enabled ?? false;
  if (metricsOn) collectProcessMetrics();
  const storage = applyStorageMiddleware(
    createDriver(config.storage),
    config.middleware?.storage,
    config.storage.redirect?.disable ?? false,
  );
  const traced = tracingSettings(config.berth.tracing);
  const tracing = traced && new Tracing(traced, (request) => request.berth && handlerOf(request.berth.route));
  const driver = instrumentDriver(storage, {
    metrics: metricsOn,
    span: tracing && ((action, call) => inSpan(`storage ${action}`, { 'berth.storage.action': action }, call)),
  });
  const registry = new Registry(driver, {
    layerUrls: config.validation,
    lock: redis ? uploadLock(redis, driver, log) : undefined,
    uploads: { maxBlobSize: config.berth.limits.maxblobsize },
    policies: policyOptions(config, log),
  });
  const proxied = proxySettings(config);
  const cache =
    proxied && new PullThroughCache(registry, proxied.upstreams, redis ? proxyLock(redis, log) : new KeyedLock(), log);
  const notifier = new Notifier(config.notifications, registry.driver, {
    logger: log,
    redis,
    port: config.http.net === 'unix' ? undefined : parseTcpAddress(config.http.addr)?.port.toString(),
  });
  if (metricsOn) {
    countNotifications(() => notifier.stats());
    countStoredBytes(registry.accounting);
  }
  const retention = new Retention(registry, config.berth.retention, {
    logger: log,
    onDelete: (deleted) => recordRetentionDeletes(notifier, deleted),
  });
  const gc = new OnlineGc(
    registry,
    gcSettings(config),
    log,
    cache && proxied && ((step) => expireCache(registry, cache.records, proxied, step)),
    config.berth.retention.withgc ? retention : undefined,
  );
  const health = healthMonitor(config.health, registry.driver, log);
  health.start();
  const app = buildServer({
    config,
    registry,
    logger: log,
    gc,
    redis,
    notifier,
    health,
    tracing,
    proxy: cache && proxied && { cache, settings: proxied },
    clock: options.clock,
  });
  // OpenTelemetry loads when the server gets ready (listening, or a worker's socket handed over).
  if (tracing) app.addHook('onReady', () => tracing.start());
  const purging = config.storage.maintenance.uploadpurging;
  // Purging deletes; a read-only registry writes nothing, as in Distribution.
  const purger =
    purging.enabled && !config.storage.maintenance.readonly?.enabled
      ? new UploadPurger(registry.driver, { age: purging.age, interval: purging.interval, dryRun: purging.dryrun }, log)
      : undefined;
  // Scheduled collection deletes too, so it waits for the end of read-only mode; a run asked for
  // at the admin endpoint still goes ahead.
  const startJobs = () => {
    notifier.start();
    purger?.start();
    registry.pulls.start();
    // Storage accounting holds every repository's figures in memory (some 3 MB per 1,000), loaded
    // from the snapshot in storage: in the background at start where the first push (quotas) or
    // scrape (metrics) needs them, otherwise by their first use (the admin usage report, the web
    // UI's storage page). Every write keeps the records in storage current either way.
    if (registry.quotas.enabled || metricsOn)
      registry.accounting
        .current()
        .catch((error: unknown) => log.warn({ err: error }, 'storage accounting: read failed'));
    registry.accounting.start();
    if (!config.storage.maintenance.readonly?.enabled) gc.start();
  };
  let debug: DebugServer | undefined;
  const berth: Berth = {
    app,
    registry,
    logger: log,
    config,
    purger,
    gc,
    redis,
    notifier,
    health,
    metrics: metricsText,
    async listen(override) {
      try {
        await registry.driver.ping();
      } catch (error) {
        const where = config.storage.filesystem?.rootdirectory ?? 'storage';
        throw new Error(`storage: ${where} is not usable: ${(error as Error).message}`);
      }
      const debugConfig = config.http.debug;
      if (debugConfig && !debug) {
        const prometheus = debugConfig.prometheus;
        debug = new DebugServer({
          addr: debugConfig.addr,
          health,
          logger: log,
          metrics: prometheus?.enabled
            ? { path: prometheus.path, contentType: METRICS_CONTENT_TYPE, text: () => berth.metrics() }
            : undefined,
        });
        berth.debugPort = await debug.listen();
      }
      if (config.http.net === 'unix' && !override) {
        await app.listen({ path: config.http.addr });
        startJobs();
        return { host: config.http.addr, port: 0 };
      }
      const configured = parseListenAddress(config.http.addr);
      await app.listen({ host: override?.host ?? configured.host, port: override?.port ?? configured.port });
      startJobs();
      const address = app.server.address();
      if (address === null || typeof address === 'string') return { host: configured.host, port: configured.port };
      notifier.listeningOn(address.port);
      return { host: address.address, port: address.port };
    },
    async close() {
      health.stop();
      registry.accounting.stop();
      await Promise.all([app.close(), purger?.stop(), gc.stop(), debug?.close()]);
      await registry.pulls.stop().catch((error: unknown) => log.warn({ err: error }, 'pull times: last write failed'));
      // After the server: requests still finishing may record events, which stay in the outbox.
      await notifier.stop();
      await tracing?.close();
      cache?.close();
      await registry.driver.close?.();
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
  return berth;
}

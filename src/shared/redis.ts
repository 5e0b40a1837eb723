/**
 * The Redis connection for state that several Berth instances share (upload locks now; rate-limit
 * counters and caches can use the same client), from Distribution's `redis` block:
 * `addr` (or `addrs`), `username`, `password`, `db`, `dialtimeout`, `readtimeout`, `tls`, and
 * `mastername` for Sentinel. Several `addrs` without `mastername` mean a Redis Cluster.
 *
 * Keys Berth writes start with `berth:`, so the database can be shared.
 */
import { inSpan, tracingOn } from '../tracing/spans.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';

export type RedisClient = Redis | Cluster;

/** Prefix of every key Berth writes. */
export const KEY_PREFIX = 'berth:';

function hostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address.trim());
  return { host: match?.[1] || '127.0.0.1', port: Number(match?.[2] ?? 6379) };
}

function tlsOptions(config: RedisConfig): RedisOptions['tls'] {
  const tls = config.tls;
  if (!tls) return undefined;
  const files = tls.certificate !== undefined || tls.key !== undefined || (tls.rootcas?.length ?? 0) > 0;
  if (!files && tls.enabled !== true) return undefined;
  return {
    cert: tls.certificate ? readFileSync(tls.certificate) : undefined,
    key: tls.key ? readFileSync(tls.key) : undefined,
    ca: tls.rootcas?.map((file) => readFileSync(file)),
  };
}

/** Creates the client (connecting in the background), or undefined when `redis` is not configured. */
/** A span per command while tracing is on (nothing but a check otherwise). */
function traced<T extends RedisClient>(client: T): T {
  const send = client.sendCommand.bind(client) as (command: { name: string }, ...rest: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (command: { name: string }, ...rest: unknown[]) =>
    tracingOn()
      ? inSpan(`redis ${command.name}`, { 'db.system': 'redis' }, async () => send(command, ...rest))
      : send(command, ...rest);
  return client;
}

export function createRedis(config: RedisConfig | undefined): RedisClient | undefined {
  const client = connectRedis(config);
  return client && traced(client);
}

function connectRedis(config: RedisConfig | undefined): RedisClient | undefined {
  if (!config) return undefined;
  // Loaded here: a registry without a `redis` block never loads the client.
  const { Cluster, Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const addresses = (config.addrs && config.addrs.length > 0 ? config.addrs : [config.addr!]).map(hostPort);
  const options: RedisOptions = {
    username: config.username,
    password: config.password,
    db: config.db,
    connectionName: config.clientname,
    connectTimeout: config.dialtimeout ?? 10_000,
    commandTimeout: config.readtimeout,
    tls: tlsOptions(config),
    // Commands wait for a reconnection rather than fail at once; a request that needs Redis
    // still fails within the command timeout when Redis stays down.
    maxRetriesPerRequest: 3,
    lazyConnect: false,
  };
  if (config.mastername) {
    return new Redis({
      ...options,
      sentinels: addresses,
      name: config.mastername,
      sentinelUsername: config.sentinelusername,
      sentinelPassword: config.sentinelpassword,
    });
  }
  if (addresses.length > 1) return new Cluster(addresses, { redisOptions: options });
  return new Redis({ ...options, ...addresses[0]! });
}

/** Health probe: resolves when Redis answers PING within `timeoutMs`. */
export async function pingRedis(client: RedisClient, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

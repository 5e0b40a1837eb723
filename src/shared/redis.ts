/**
 * The Redis connection for state that several Berth instances share (upload locks, rate-limit
 * counters, the notification lease, the pull-through cache's locks), from Distribution's `redis`
 * block: `addr` (or `addrs`), `username`, `password`, `db`, `dialtimeout`, `readtimeout`, `tls`,
 * and `mastername` for Sentinel. Several `addrs` without `mastername` mean a Redis Cluster.
 *
 * Keys Berth writes start with `berth:`, so the database can be shared.
 *
 * While Redis is down every command fails at once rather than waiting in ioredis's offline queue
 * for a reconnection (which held each upload for seconds and then failed it with 500): callers
 * ask `redisUnready` first and go on without Redis where that is safe, or refuse with 503
 * (docs/configuration.md#when-a-request-the-disk-or-redis-fails). A command sent on a connection
 * that stops answering fails after `readtimeout`.
 */
import { inSpan, tracingOn } from '../tracing/spans.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../config/schema.js';
import { OutageLog } from './outage.js';

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

/** A span per command while tracing is on (nothing but a check otherwise). */
function traced<T extends RedisClient>(client: T): T {
  const send = client.sendCommand.bind(client) as (command: { name: string }, ...rest: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (command: { name: string }, ...rest: unknown[]) =>
    tracingOn()
      ? inSpan(`redis ${command.name}`, { 'db.system': 'redis' }, async () => send(command, ...rest))
      : send(command, ...rest);
  return client;
}

/** How long a command may go unanswered when `redis.readtimeout` is not set (go-redis's default). */
export const DEFAULT_READ_TIMEOUT_MS = 3_000;
/** How long a caller waits for the first connection attempt after start-up to end. */
const FIRST_ATTEMPT_WAIT_MS = 2_000;
/**
 * After a command went unanswered for the read timeout on a connection that stays open (a Redis
 * that hangs, a network that drops packets), Redis counts as down this long before it is tried
 * again: one request in this window waits out the timeout, not every one.
 */
const UNANSWERED_BACKOFF_MS = 5_000;

/** Per client, when a command last went unanswered within the read timeout. */
const unansweredAt = new WeakMap<RedisClient, number>();

function watchAnswers<T extends RedisClient>(client: T): T {
  const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (...args: unknown[]) => {
    const answer = send(...args);
    if (answer instanceof Promise) {
      answer.then(
        () => unansweredAt.delete(client),
        (error: unknown) => {
          // ioredis's message for commandTimeout.
          if ((error as Error | undefined)?.message === 'Command timed out') unansweredAt.set(client, Date.now());
        },
      );
    }
    return answer;
  };
  client.on('ready', () => unansweredAt.delete(client));
  return client;
}

/** Per client, settled once its first connection attempt has ended (connected or failed). */
const firstAttempts = new WeakMap<RedisClient, Promise<void>>();

function watchFirstAttempt(client: RedisClient): void {
  firstAttempts.set(
    client,
    new Promise<void>((resolve) => {
      const settle = () => {
        client.off('ready', settle).off('close', settle).off('end', settle);
        resolve();
      };
      client.once('ready', settle).once('close', settle).once('end', settle);
    }),
  );
}

/** Creates the client (connecting in the background), or undefined when `redis` is not configured. */
export function createRedis(config: RedisConfig | undefined): RedisClient | undefined {
  const client = connectRedis(config);
  if (!client) return undefined;
  watchFirstAttempt(client);
  return watchAnswers(traced(client));
}

/**
 * Why `client` cannot take a command now, or undefined when it can. Right after start-up, before
 * its first connection attempt has ended, it waits for that attempt (at most `waitMs`), so that
 * the first requests of a fresh process do not find Redis "down"; during an outage it answers at
 * once.
 */
export async function redisUnready(client: RedisClient, waitMs = FIRST_ATTEMPT_WAIT_MS): Promise<string | undefined> {
  const ready = () => client.status === 'ready';
  const unanswered = unansweredAt.get(client);
  if (ready() && unanswered !== undefined && Date.now() - unanswered < UNANSWERED_BACKOFF_MS) {
    return `not answering (a command timed out ${Date.now() - unanswered} ms ago)`;
  }
  if (ready()) return undefined;
  const first = firstAttempts.get(client);
  if (first) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    firstAttempts.delete(client);
    if (ready()) return undefined;
  }
  return `not connected (${client.status})`;
}

/** Logs connection trouble once per outage, and the reconnection, rather than every retry. */
export function logRedisConnection(client: RedisClient, log: Pick<Logger, 'warn' | 'info'>): void {
  const outage = new OutageLog(log, {
    down: 'redis: not reachable; running without the state it shares until it is back (docs/configuration.md#when-a-request-the-disk-or-redis-fails)',
    back: 'redis: connected again',
  });
  client.on('error', (error: Error) => outage.failed(error));
  client.on('ready', () => outage.answered());
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
    commandTimeout: config.readtimeout ?? DEFAULT_READ_TIMEOUT_MS,
    tls: tlsOptions(config),
    // Not connected: fail at once (the callers know what to do without Redis) rather than queue.
    enableOfflineQueue: false,
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
  if (addresses.length > 1) return new Cluster(addresses, { redisOptions: options, enableOfflineQueue: false });
  return new Redis({ ...options, ...addresses[0]! });
}

/** Health probe: resolves when Redis answers PING within `timeoutMs`. */
export async function pingRedis(client: RedisClient, timeoutMs = 2_000): Promise<void> {
  const unready = await redisUnready(client);
  if (unready) throw new Error(unready);
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

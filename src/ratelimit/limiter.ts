/**
 * The counters behind the budgets: in this process's memory (windows.ts), or, when `redis` is
 * configured, in Redis through rate-limiter-flexible, so that every Berth instance behind one
 * load balancer spends from the same budget.
 *
 * When Redis cannot be reached (not connected, or no answer within the command timeout), each
 * instance counts in its own memory with the same budgets and says so once in its log; requests
 * keep being served and limited, per instance rather than together, until Redis answers again.
 * Failing every request, or dropping limits altogether, would both be worse for a registry that
 * is being scripted against.
 */
import type { Logger } from 'pino';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { OutageLog } from '../shared/outage.js';
import { rateLimiterFlexible } from '../shared/rate-limiter-flexible.js';
import { KEY_PREFIX, type RedisClient } from '../shared/redis.js';
import { type Clock, MemoryWindows, type WindowCount } from './windows.js';
import type { Budget } from './budgets.js';

/** Where one counter stands after a request was counted (or looked at). */
export interface Count {
  budget: Budget;
  /** Requests still allowed in this window. */
  remaining: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
  /** Whether this request went over the limit. */
  refused: boolean;
}

const DEFAULT_REDIS_TIMEOUT_MS = 1_000;

function countFrom(budget: Budget, { consumed, msLeft }: WindowCount): Count {
  return {
    budget,
    remaining: Math.max(budget.limit - consumed, 0),
    resetMs: msLeft > 0 ? msLeft : budget.windowSeconds * 1000,
    refused: consumed > budget.limit,
  };
}

function windowCountOf(result: RateLimiterRes): WindowCount {
  return { consumed: result.consumedPoints, msLeft: result.msBeforeNext };
}

/** One budget's counters in memory, and in Redis when there is one. */
class BudgetCounter {
  constructor(
    private readonly budget: Budget,
    private readonly memory: MemoryWindows,
    private readonly redis: RateLimiterAbstract | undefined,
    private readonly health: OutageLog | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** Counts one request; `refused` when it is over the limit. */
  async consume(key: string): Promise<Count> {
    return this.run(
      (limiter) => limiter.consume(key),
      () => this.memory.add(key),
    );
  }

  /** Counts one event without ever refusing (failed logins are counted after the fact). */
  async penalty(key: string): Promise<Count> {
    return this.run(
      (limiter) => limiter.penalty(key),
      () => this.memory.add(key),
    );
  }

  /** Where the counter stands, without counting. */
  async peek(key: string): Promise<Count> {
    return this.run(
      async (limiter) =>
        (await limiter.get(key)) ?? new (rateLimiterFlexible().RateLimiterRes)(this.budget.limit, 0, 0, false),
      () => this.memory.peek(key),
    );
  }

  private async run(
    inRedis: (limiter: RateLimiterAbstract) => Promise<RateLimiterRes>,
    inMemory: () => WindowCount,
  ): Promise<Count> {
    if (this.redis) {
      try {
        const result = await settle(withTimeout(inRedis(this.redis), this.timeoutMs));
        this.health?.answered();
        return countFrom(this.budget, windowCountOf(result));
      } catch (error) {
        this.health?.failed(error);
      }
    }
    return countFrom(this.budget, inMemory());
  }
}

/** rate-limiter-flexible rejects with the result when a consume goes over: make that a result. */
async function settle(pending: Promise<RateLimiterRes>): Promise<RateLimiterRes> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof rateLimiterFlexible().RateLimiterRes) return error;
    throw error;
  }
}

function withTimeout<T>(pending: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}

export interface CounterOptions {
  log: Logger;
  /** Shared counters; memory only when undefined. */
  redis?: RedisClient;
  /** How long to wait for Redis before counting in memory. */
  redisTimeoutMs?: number;
  /** The time the counters in memory read (default `Date.now`). */
  clock?: Clock;
}

/** Every budget's counters; one counter per budget name, limit and window. */
export class Counters {
  private readonly counters = new Map<string, BudgetCounter>();
  private readonly health: OutageLog | undefined;

  constructor(private readonly options: CounterOptions) {
    this.health = options.redis
      ? new OutageLog(options.log, {
          down: 'rate limits: Redis does not answer; each instance now counts in its own memory (budgets are no longer shared) until it is back',
          back: 'rate limits: Redis answers again; budgets are shared again',
        })
      : undefined;
  }

  /** Reports Redis as unreachable (at start-up, before any request tried it). */
  redisDown(error: unknown): void {
    this.health?.failed(error);
  }

  get shared(): boolean {
    return this.options.redis !== undefined;
  }

  for(budget: Budget): BudgetCounter {
    const id = `${budget.name}:${budget.limit}:${budget.windowSeconds}`;
    let counter = this.counters.get(id);
    if (!counter) {
      const memory = new MemoryWindows(budget.windowSeconds * 1000, this.options.clock);
      const redis = this.options.redis
        ? new (rateLimiterFlexible().RateLimiterRedis)({
            points: budget.limit,
            duration: budget.windowSeconds,
            // The window is part of the key: counters of one budget with different windows never mix.
            keyPrefix: `${KEY_PREFIX}ratelimit:${budget.name}:${budget.windowSeconds}`,
            storeClient: this.options.redis,
            rejectIfRedisNotReady: true,
          })
        : undefined;
      counter = new BudgetCounter(
        budget,
        memory,
        redis,
        this.health,
        this.options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS,
      );
      this.counters.set(id, counter);
    }
    return counter;
  }
}

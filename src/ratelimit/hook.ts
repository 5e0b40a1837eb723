/**
 * Rate limits and the upload concurrency limit, as two fastify `onRequest` hooks around the auth
 * guard (the request pipeline, src/http/pipeline.ts, adds them in this order):
 *
 *   before the guard: a client that has spent its `failedlogins` budget is refused any login
 *     (Basic credentials, token requests); token requests spend `tokens`; wrong credentials
 *     reported to the request state (`loginFailed`) are counted;
 *   the guard: decides who the caller is (src/auth, `request.berth.caller`);
 *   after the guard: the caller's `requests`, `pulls` (manifest GETs) and `uploads` (upload
 *     starts), and the in-flight upload slot.
 *
 * Both read the request only through the request state (src/request/state.ts): the route and
 * query parsed once, the client's address worked out once.
 *
 * Every response counted against a budget carries the RateLimit headers of the budget closest to
 * refusing it; a refused request gets 429 TOOMANYREQUESTS with `Retry-After`. Nothing is
 * installed unless `berth.ratelimit` sets a budget or `berth.limits.maxconcurrentuploads` is set.
 */
import { rateLimitRefusals } from '../metrics/families.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { hasBody } from '../request/body.js';
import type { ChargedBudget, RequestState } from '../request/state.js';
import type { RedisClient } from '../shared/redis.js';
import { BudgetTable, type Budget, type BudgetName } from './budgets.js';
import { InFlight } from './concurrency.js';
import { closestToLimit, rateLimitHeaders, tooManyRequests } from './headers.js';
import { addressKey, identityKey, type Caller } from './identity.js';
import { Counters, type Count } from './limiter.js';
import type { Clock } from './windows.js';
import { RegistryError } from '../api/errors.js';

const ANONYMOUS: Caller = { groups: [] };
const REDIS_READY_WAIT_MS = 5_000;

/** What a request is, for the budgets. */
interface RequestKind {
  pull: boolean;
  uploadStart: boolean;
  uploadBody: boolean;
}

type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface RateLimits {
  /** The hook that runs before the auth guard. */
  beforeAuth?: Hook;
  /** The hook that needs the caller; it runs after the auth guard. */
  afterAuth?: Hook;
}

const NOTHING: RateLimits = {};

function isBasic(header: string | undefined): boolean {
  return header !== undefined && /^\s*basic\b/i.test(header);
}

function groupMembership(config: Config): Map<string, string[]> {
  const memberOf = new Map<string, string[]>();
  for (const [group, members] of Object.entries(config.berth.auth?.groups ?? {})) {
    for (const member of members) memberOf.set(member, [...(memberOf.get(member) ?? []), group]);
  }
  return memberOf;
}

async function waitForRedis(redis: RedisClient, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms).unref();
    redis.on('ready', onReady);
  });
}

/**
 * `redis`: the process's client for Distribution's `redis` block, when configured (app.ts owns
 * it); `clock`: the time the counters in memory read (default `Date.now`).
 */
export function installRateLimits(
  app: FastifyInstance,
  config: Config,
  log: Logger,
  { redis: sharedRedis, clock }: { redis?: RedisClient; clock?: Clock } = {},
): RateLimits {
  const table = config.berth.ratelimit ? new BudgetTable(config.berth.ratelimit) : undefined;
  const budgetsOn = table?.enabled ?? false;
  const maxUploads = config.berth.limits.maxconcurrentuploads;
  if (!budgetsOn && maxUploads === undefined) return NOTHING;

  const memberOf = groupMembership(config);
  const inFlight = maxUploads !== undefined ? new InFlight(maxUploads) : undefined;

  const redis = budgetsOn ? sharedRedis : undefined;
  const counters = new Counters({ log, redis, redisTimeoutMs: config.redis?.readtimeout, clock });
  if (redis) {
    // Start-up does not wait for Redis: until it connects, requests are counted in memory.
    app.addHook('onReady', async () => {
      const wait = Math.min(config.redis?.dialtimeout ?? REDIS_READY_WAIT_MS, REDIS_READY_WAIT_MS);
      void waitForRedis(redis, wait).then((ready) => {
        if (!ready && redis.status !== 'end') counters.redisDown(new Error(`not connected after ${wait} ms`));
      });
    });
  }
  if (budgetsOn) {
    log.info({ budgets: config.berth.ratelimit, store: redis ? 'redis' : 'memory' }, 'rate limits on');
  }

  /** What a request is for the per-caller budgets, from its route (read once by the pipeline). */
  function classify(request: FastifyRequest): RequestKind {
    const { route: matched, target } = request.berth;
    const kind: RequestKind = { pull: false, uploadStart: false, uploadBody: false };
    const route = matched.family === 'registry' ? matched.route : undefined;
    const method = request.method;
    kind.pull = route === 'manifest' && method === 'GET';
    kind.uploadStart = route === 'uploads' && method === 'POST';
    // A POST with `digest` and a body pushes the whole blob in one request.
    const monolithic = kind.uploadStart && target.query.has('digest');
    kind.uploadBody =
      hasBody(request) && ((route === 'upload' && (method === 'PATCH' || method === 'PUT')) || monolithic);
    return kind;
  }

  function callerFor(state: RequestState): Caller {
    const caller = state.caller;
    if (caller?.user === undefined) return ANONYMOUS;
    const groups = caller.groups.length > 0 ? caller.groups : (memberOf.get(caller.user) ?? []);
    return { user: caller.user, groups };
  }

  function describe(caller: Caller, address: string): string {
    return caller.user !== undefined ? `user "${caller.user}"` : `address ${addressKey(address)}`;
  }

  function setHeaders(reply: FastifyReply, counts: readonly ChargedBudget[]): void {
    const shown = closestToLimit(counts);
    if (shown) reply.headers(rateLimitHeaders(shown));
  }

  function refuse(request: FastifyRequest, count: Count, who: string): RegistryError {
    request.log.debug({ budget: count.budget.name, who, limit: count.budget.limit }, 'rate limit: request refused');
    return tooManyRequests(count, who);
  }

  async function countFailedLogin(address: string, account: string | undefined): Promise<void> {
    const budget = table!.budgetFor('failedlogins', ANONYMOUS);
    if (!budget) return;
    const count = await counters.for(budget).penalty(identityKey(ANONYMOUS, address));
    if (count.remaining === 0) {
      log.warn(
        {
          address: addressKey(address),
          account,
          limit: budget.limit,
          window: budget.windowSeconds,
          retryAfter: Math.ceil(count.resetMs / 1000),
        },
        'failed logins: budget spent; logins from this address are refused until the window ends',
      );
    }
  }

  const beforeAuth: Hook = async (request, reply) => {
    const state = request.berth;
    const address = state.clientAddress;
    const token = state.route.family === 'token';
    if (!budgetsOn) return;
    state.loginFailed = async (account) => {
      try {
        await countFailedLogin(address, account);
      } catch {
        // Counting must never turn a 401 into a 500; the counters log their own trouble.
      }
    };
    const key = identityKey(ANONYMOUS, address);
    const who = `address ${addressKey(address)}`;
    if (token || isBasic(request.headers.authorization)) {
      const budget = table!.budgetFor('failedlogins', ANONYMOUS);
      if (budget) {
        const count = await counters.for(budget).peek(key);
        if (count.remaining === 0) throw refuse(request, { ...count, refused: true }, who);
      }
    }
    if (token) {
      const budget = table!.budgetFor('tokens', ANONYMOUS);
      if (budget) {
        const count = await counters.for(budget).consume(key);
        if (count.refused) throw refuse(request, count, who);
        state.charged.push(count);
        setHeaders(reply, state.charged);
      }
    }
  };

  const afterAuth: Hook = async (request, reply) => {
    const state = request.berth;
    const kind = classify(request);
    const caller = callerFor(state);
    const key = identityKey(caller, state.clientAddress);
    let release: (() => void) | undefined;
    if (inFlight && kind.uploadBody) {
      release = inFlight.acquire(key);
      if (!release) {
        rateLimitRefusals.inc({ budget: 'concurrentuploads' });
        throw new RegistryError(
          'TOOMANYREQUESTS',
          `${describe(caller, state.clientAddress)} already has ${inFlight.max} uploads in flight (berth.limits.maxconcurrentuploads); retry when one finishes`,
          { limit: inFlight.max },
          { headers: { 'Retry-After': '1' } },
        );
      }
      reply.raw.once('close', release);
    }
    if (!budgetsOn) return;
    const names: BudgetName[] = ['requests'];
    if (kind.pull) names.push('pulls');
    if (kind.uploadStart) names.push('uploads');
    const budgets = names
      .map((name) => table!.budgetFor(name, caller))
      .filter((budget): budget is Budget => budget !== undefined);
    const counts = await Promise.all(budgets.map((budget) => counters.for(budget).consume(key)));
    const refused = counts.filter((count) => count.refused);
    if (refused.length > 0) {
      release?.();
      const longest = refused.reduce((a, b) => (b.resetMs > a.resetMs ? b : a));
      throw refuse(request, longest, describe(caller, state.clientAddress));
    }
    state.charged.push(...counts);
    setHeaders(reply, state.charged);
  };

  return { beforeAuth, afterAuth };
}

/**
 * Rate limits and the upload concurrency limit, as two fastify `onRequest` hooks around the auth
 * guard (hooks run in the order they are added):
 *
 *   before the guard: the client's address; a client that has spent its `failedlogins` budget is
 *     refused any login (Basic credentials, token requests); token requests spend `tokens`;
 *   the guard: decides who the caller is (src/auth, `setCaller`);
 *   after the guard: the caller's `requests`, `pulls` (manifest GETs) and `uploads` (upload
 *     starts), and the in-flight upload slot.
 *
 * Every response counted against a budget carries the RateLimit headers of the budget closest to
 * refusing it; a refused request gets 429 TOOMANYREQUESTS with `Retry-After`. Nothing is
 * installed unless `berth.ratelimit` sets a budget or `berth.limits.maxconcurrentuploads` is set.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { apiPrefix, targetOf } from '../api/routes.js';
import { callerOf } from '../auth/caller.js';
import type { Config } from '../config/schema.js';
import { hasBody } from '../http/context.js';
import type { RedisClient } from '../shared/redis.js';
import { BudgetTable, type Budget, type BudgetName } from './budgets.js';
import { InFlight } from './concurrency.js';
import { watchFailedLogins } from './failed-logins.js';
import { closestToLimit, rateLimitHeaders, tooManyRequests } from './headers.js';
import { addressKey, clientAddress, identityKey, TrustedProxies, type Caller } from './identity.js';
import { Counters, type Count } from './limiter.js';
import { RegistryError } from '../api/errors.js';

const ANONYMOUS: Caller = { groups: [] };
const REDIS_READY_WAIT_MS = 5_000;

/** What a request is, for the budgets. */
interface RequestKind {
  token: boolean;
  pull: boolean;
  uploadStart: boolean;
  uploadBody: boolean;
}

interface RequestState {
  address: string;
  kind: RequestKind;
  counts: Count[];
}

export interface RateLimits {
  /** Adds the hook that needs the caller; call it after the auth guard is installed. */
  afterAuth(): void;
}

const NOTHING: RateLimits = { afterAuth() {} };

function isBasic(header: string | undefined): boolean {
  return header !== undefined && /^\s*basic\b/i.test(header);
}

function resume(request: FastifyRequest): void {
  // Read what the client is still sending, so that it gets to read the refusal.
  if (hasBody(request) && request.raw.readable) request.raw.resume();
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

/** `redis`: the process's client for Distribution's `redis` block, when configured (app.ts owns it). */
export function installRateLimits(app: FastifyInstance, config: Config, log: Logger, sharedRedis?: RedisClient): RateLimits {
  const table = config.berth.ratelimit ? new BudgetTable(config.berth.ratelimit) : undefined;
  const budgetsOn = table?.enabled ?? false;
  const maxUploads = config.berth.limits.maxconcurrentuploads;
  if (!budgetsOn && maxUploads === undefined) return NOTHING;

  const proxies = new TrustedProxies(config.berth.trustedproxies);
  const prefix = apiPrefix(config.http.prefix);
  const tokenPath = (config.berth.auth?.tokenserver?.path ?? '/auth/token').replace(/\/+$/, '') || '/';
  const memberOf = groupMembership(config);
  const inFlight = maxUploads !== undefined ? new InFlight(maxUploads) : undefined;

  const redis = budgetsOn ? sharedRedis : undefined;
  const counters = new Counters({ log, redis, redisTimeoutMs: config.redis?.readtimeout });
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

  function classify(request: FastifyRequest): RequestKind {
    const target = targetOf(request.raw.url ?? '/', prefix);
    const kind: RequestKind = { token: false, pull: false, uploadStart: false, uploadBody: false };
    if ((target.fullPath.replace(/\/+$/, '') || '/') === tokenPath) {
      kind.token = true;
      return kind;
    }
    const route = target.match?.route;
    const method = request.method;
    kind.pull = route === 'manifest' && method === 'GET';
    kind.uploadStart = route === 'uploads' && method === 'POST';
    // A POST with `digest` and a body pushes the whole blob in one request.
    const monolithic = kind.uploadStart && target.query !== '' && new URLSearchParams(target.query).has('digest');
    kind.uploadBody = hasBody(request) && ((route === 'upload' && (method === 'PATCH' || method === 'PUT')) || monolithic);
    return kind;
  }

  function callerFor(raw: IncomingMessage): Caller {
    const caller = callerOf(raw);
    if (caller?.user === undefined) return ANONYMOUS;
    const groups = caller.groups.length > 0 ? caller.groups : memberOf.get(caller.user) ?? [];
    return { user: caller.user, groups };
  }

  function describe(caller: Caller, address: string): string {
    return caller.user !== undefined ? `user "${caller.user}"` : `address ${addressKey(address)}`;
  }

  function setHeaders(reply: FastifyReply, counts: readonly Count[]): void {
    const shown = closestToLimit(counts);
    if (shown) reply.headers(rateLimitHeaders(shown));
  }

  function refuse(request: FastifyRequest, count: Count, who: string): RegistryError {
    resume(request);
    request.log.debug({ budget: count.budget.name, who, limit: count.budget.limit }, 'rate limit: request refused');
    return tooManyRequests(count, who);
  }

  const states = new WeakMap<IncomingMessage, RequestState>();

  async function countFailedLogin(address: string, account: string | undefined): Promise<void> {
    const budget = table!.budgetFor('failedlogins', ANONYMOUS);
    if (!budget) return;
    const count = await counters.for(budget).penalty(identityKey(ANONYMOUS, address));
    if (count.remaining === 0) {
      log.warn(
        { address: addressKey(address), account, limit: budget.limit, window: budget.windowSeconds, retryAfter: Math.ceil(count.resetMs / 1000) },
        'failed logins: budget spent; logins from this address are refused until the window ends',
      );
    }
  }

  app.addHook('onRequest', async (request, reply) => {
    const address = clientAddress(request.raw, proxies);
    const kind = classify(request);
    const state: RequestState = { address, kind, counts: [] };
    states.set(request.raw, state);
    if (!budgetsOn) return;
    watchFailedLogins(request.raw, (account) => countFailedLogin(address, account));
    const key = identityKey(ANONYMOUS, address);
    const who = `address ${addressKey(address)}`;
    if (kind.token || isBasic(request.headers.authorization)) {
      const budget = table!.budgetFor('failedlogins', ANONYMOUS);
      if (budget) {
        const count = await counters.for(budget).peek(key);
        if (count.remaining === 0) throw refuse(request, { ...count, refused: true }, who);
      }
    }
    if (kind.token) {
      const budget = table!.budgetFor('tokens', ANONYMOUS);
      if (budget) {
        const count = await counters.for(budget).consume(key);
        if (count.refused) throw refuse(request, count, who);
        state.counts.push(count);
        setHeaders(reply, state.counts);
      }
    }
  });

  async function afterAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const state = states.get(request.raw);
    if (!state) return;
    const caller = callerFor(request.raw);
    const key = identityKey(caller, state.address);
    let release: (() => void) | undefined;
    if (inFlight && state.kind.uploadBody) {
      release = inFlight.acquire(key);
      if (!release) {
        resume(request);
        throw new RegistryError(
          'TOOMANYREQUESTS',
          `${describe(caller, state.address)} already has ${inFlight.max} uploads in flight (berth.limits.maxconcurrentuploads); retry when one finishes`,
          { limit: inFlight.max },
          { headers: { 'Retry-After': '1' } },
        );
      }
      reply.raw.once('close', release);
    }
    if (!budgetsOn) return;
    const names: BudgetName[] = ['requests'];
    if (state.kind.pull) names.push('pulls');
    if (state.kind.uploadStart) names.push('uploads');
    const budgets = names.map((name) => table!.budgetFor(name, caller)).filter((budget): budget is Budget => budget !== undefined);
    const counts = await Promise.all(budgets.map((budget) => counters.for(budget).consume(key)));
    const refused = counts.filter((count) => count.refused);
    if (refused.length > 0) {
      release?.();
      const longest = refused.reduce((a, b) => (b.resetMs > a.resetMs ? b : a));
      throw refuse(request, longest, describe(caller, state.address));
    }
    state.counts.push(...counts);
    setHeaders(reply, state.counts);
  }

  return {
    afterAuth() {
      app.addHook('onRequest', afterAuth);
    },
  };
}

/**
 * The HTTP server: fastify for the connection, logging, TLS and graceful close. Every request
 * goes through one pipeline (pipeline.ts: read the target once, rate limits, access rules) to
 * one catch-all route, whose dispatcher (dispatch.ts) serves every URL family. Errors of any
 * kind leave through src/http/errors.ts, which writes the spec's JSON error envelope. Which HTTP
 * versions the listening server speaks (HTTP/1.1, HTTP/2 over TLS, h2c) is protocols.ts's.
 */
import { apiPrefix } from '../api/routes.js';
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Notifier } from '../notifications/notifier.js';
import type { Registry } from '../registry/registry.js';
import type { Settings } from './context.js';
import { createDispatcher } from './dispatch.js';
import type { OnlineGc } from '../registry/gc/scheduler.js';
import type { RedisClient } from '../shared/redis.js';
import { createAccessControl } from '../auth/index.js';
import { installRateLimits } from '../ratelimit/index.js';
import type { Clock } from '../ratelimit/windows.js';
import { applyServerLimits, DEFAULT_HEADER_SIZE, installServerLimits } from './limits.js';
import { serverFactory } from './protocols.js';
import { installStreamLimits } from './limits-http2.js';
import { isHttp2 } from '../request/protocol.js';
import { AccessLog } from './access-log.js';
import { enforceClientAuth, httpsOptions } from './tls.js';
import { parseTcpAddress } from '../config/address.js';
import { TrustedProxies } from '../request/client.js';
import { RouteTable } from '../request/routes.js';
import { UpstreamTable } from '../request/upstream.js';
import type { PullThroughCache } from '../registry/proxy/cache.js';
import type { ProxySettings } from '../registry/proxy/settings.js';
import { parseRequestTarget, TargetError } from '../request/target.js';
import { sendError } from './errors.js';
import { installPipeline } from './pipeline.js';
import { sendCanonicalHeaderNames } from './header-case.js';
import type { HealthMonitor } from '../health/index.js';
import type { Tracing } from '../tracing/index.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

export function settingsFrom(config: Config, accessControlled = false): Settings {
  const prefix = apiPrefix(config.http.prefix);
  return {
    mountWithoutFrom: !accessControlled,
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly?.enabled ?? false,
    manifestMaxSize: config.berth.manifestmaxsize,
    catalogMaxEntries: config.catalog.maxentries,
    host: config.http.host,
    relativeUrls: config.http.relativeurls,
    prefix,
  };
}

export interface ServerOptions {
  config: Config;
  registry: Registry;
  logger: Logger;
  /** Online garbage collection, served at `/_berth/admin/gc` when given. */
  gc?: OnlineGc;
  /** The Redis client of Distribution's `redis` block, when configured (rate-limit counters, health). */
  redis?: RedisClient;
  /** Registry events: recorded by the handlers before they answer (docs/notifications.md). */
  notifier?: Notifier;
  /** The pull-through cache and the settings that say which repositories it serves. */
  proxy?: { cache: PullThroughCache; settings: ProxySettings };
  /** The checks of Distribution's `health` section: the registry API answers 503 while one fails. */
  health?: HealthMonitor;
  /** OpenTelemetry traces, when on (src/tracing). */
  tracing?: Tracing;
  /** The time rate-limit windows read (default `Date.now`; tests pass their own). */
  clock?: Clock;
}

/** The target parser's refusal of a target fastify's router could not decode either. */
function undecodableTarget(rawUrl: string): Error {
  try {
    parseRequestTarget(rawUrl);
  } catch (error) {
    if (error instanceof TargetError) return error;
  }
  return new TargetError('the path is not valid percent-encoding', rawUrl);
}

export function buildServer({
  config,
  registry,
  logger,
  gc,
  redis,
  notifier,
  proxy,
  health,
  tracing,
  clock,
}: ServerOptions): FastifyInstance {
  const https = httpsOptions(config.http.tls);
  const options: FastifyServerOptions & { https?: HttpsOptions } = {
    loggerInstance: logger,
    // One access line per request (access-log.ts) instead of fastify's two.
    logController: new AccessLog(logger, !(config.log.accesslog?.disabled ?? false)),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // requestTimeout, header size, idle timeout and parser errors: berth.limits (limits.ts).
    forceCloseConnections: 'idle',
    // fastify's router refuses a path it cannot percent-decode (`/v2/a%zz/…`) before any hook
    // runs; the target parser refuses it too, with the same 400 as every refused target.
    frameworkErrors: (_error, request, reply) => {
      sendCanonicalHeaderNames(reply.raw);
      setCommonHeaders(reply);
      void sendError(undecodableTarget(request.raw.url ?? '/'), request, reply);
    },
  };
  if (https) options.https = https;
  applyServerLimits(options, config);
  options.serverFactory = serverFactory({
    http2OverTls: https !== undefined && !(config.http.http2?.disabled ?? false),
    h2c: config.http.h2c?.enabled ?? false,
    maxHeaderSize: config.berth.limits.headersize ?? DEFAULT_HEADER_SIZE,
  }) as unknown as FastifyServerOptions['serverFactory'];
  const app = Fastify(options) as unknown as FastifyInstance;
  installServerLimits(app, config, logger);
  installStreamLimits(app, config, logger);
  if (https) enforceClientAuth(app.server as unknown as HttpsServer, config.http.tls);
  // close() ends idle keep-alive connections once, when it starts. A connection whose response is
  // still being written then (a blob stream whose last bytes are out but whose end is not) goes
  // idle a moment later and would hold close() until the keep-alive timeout (72 s): so while
  // closing, end connections as each response finishes.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });

  // Bodies are streamed by the handlers themselves (blobs) or read with a size limit (manifests).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  const staticHeaders = Object.entries(config.http.headers).map(
    ([name, value]) => [name, Array.isArray(value) ? value : [value]] as const,
  );
  const setCommonHeaders = (reply: FastifyReply) => {
    reply.header(API_VERSION_HEADER, 'registry/2.0');
    for (const [name, values] of staticHeaders) reply.header(name, values.length === 1 ? values[0] : values);
  };
  app.addHook('onRequest', async (request, reply) => {
    sendCanonicalHeaderNames(reply.raw);
    setCommonHeaders(reply);
    // `curl -X HEAD` (a line many registry how-tos carry) sends HEAD but then waits for the
    // Content-Length bytes a HEAD answer never has, until the keep-alive timeout. Closing the
    // connection after the headers ends that wait at once (curl reports exit 18). HTTP/2 ends
    // the stream with the headers, so curl does not wait there (and has no Connection header).
    if (request.method === 'HEAD' && !isHttp2(request.raw) && request.headers['user-agent']?.startsWith('curl/'))
      reply.header('Connection', 'close');
  });
  // Authentication and access control (src/auth), and rate limits around them (src/ratelimit).
  const access = createAccessControl(config, logger);
  const routes = new RouteTable({
    prefix: apiPrefix(config.http.prefix),
    tokenPath: access.tokens?.path,
    uiPath: config.berth.ui.enabled ? config.berth.ui.path : undefined,
    upstreams:
      proxy && new UpstreamTable({ mirror: proxy.settings.mirror, names: proxy.settings.upstreams.map((u) => u.name) }),
  });
  installPipeline(app, {
    routes,
    proxies: new TrustedProxies(config.berth.trustedproxies),
    rateLimits: installRateLimits(app, config, logger, { redis, clock }),
    guard: access.guard,
    metrics: config.http.debug?.prometheus?.enabled ?? false,
    health,
    tracing,
  });
  app.setErrorHandler(sendError);

  const dispatch = createDispatcher({
    registry,
    settings: settingsFrom(config, access.setup?.scheme !== undefined),
    driver: registry.driver,
    redis,
    gc,
    tokens: access.tokens?.service,
    auth: access.setup,
    events: notifier,
    cache: proxy?.cache,
  });
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '*',
    handler: dispatch,
  });
  // Methods outside the list above (PROPFIND, TRACE, …) land here: the dispatcher answers 405
  // with Allow on a known path and the JSON 404 elsewhere, as for every other request.
  app.setNotFoundHandler(dispatch);
  return app;
}

/** `http.addr` as Distribution writes it (":5000", "localhost:5000", "[::1]:5000"). */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const address = parseTcpAddress(addr);
  if (!address) throw new Error(`http.addr: "${addr}" is not host:port`);
  return address;
}

/**
 * From route to handler. The route was read once, by the first hook of the pipeline
 * (src/request/routes.ts lists every URL family); this table says which file serves each one:
 *
 *   registry  /v2/…                       ./routes/<family>.ts, by the table below
 *   token     berth.auth.tokenserver.path ./routes/token.ts
 *   admin     /_berth/admin/<endpoint>    ./routes/admin.ts
 *   health    /_berth/health              ./routes/health.ts
 *   ui        berth.ui.path, /_berth/ui/… ./routes/ui.ts
 *   ui-api    /_berth/api/…               ./routes/ui-api.ts
 *   root      / (UI elsewhere or off)     here: 200, empty (Distribution's liveness answer)
 *
 * It enforces the method (405 with Allow) and read-only mode, then calls the handler.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteName } from '../api/routes.js';
import { RegistryError } from '../api/errors.js';
import type { TokenService } from '../auth/token/server.js';
import type { AuthSetup } from '../auth/settings.js';
import type { Notifier } from '../notifications/notifier.js';
import type { Registry } from '../registry/registry.js';
import type { OnlineGc } from '../registry/gc/scheduler.js';
import type { PullThroughCache } from '../registry/proxy/cache.js';
import type { RouteMatch } from '../api/routes.js';
import type { Route } from '../request/routes.js';
import type { UpstreamClaim } from '../request/upstream.js';
import type { StorageDriver } from '../storage/driver.js';
import type { RedisClient } from '../shared/redis.js';
import type { MethodHandlers, Settings } from './context.js';
import type { Endpoint } from './endpoint.js';
import { adminEndpoints } from './routes/admin.js';
import { baseRoutes } from './routes/base.js';
import { blobRoutes } from './routes/blobs.js';
import { catalogRoutes } from './routes/catalog.js';
import { healthEndpoint } from './routes/health.js';
import { manifestRoutes } from './routes/manifests.js';
import { PROXY_HANDLERS } from './routes/proxy.js';
import { referrerRoutes } from './routes/referrers.js';
import { tagRoutes } from './routes/tags.js';
import { tokenEndpoint } from './routes/token.js';
import { uiEndpoint } from './routes/ui.js';
import { uiApiEndpoints } from './routes/ui-api.js';
import { uploadRoutes, uploadsRoutes } from './routes/uploads.js';

const REGISTRY_HANDLERS: Record<RouteName, MethodHandlers> = {
  base: baseRoutes, //            /v2/
  catalog: catalogRoutes, //      /v2/_catalog
  tags: tagRoutes, //             /v2/<name>/tags/list
  manifest: manifestRoutes, //    /v2/<name>/manifests/<reference>
  uploads: uploadsRoutes, //      /v2/<name>/blobs/uploads/
  upload: uploadRoutes, //        /v2/<name>/blobs/uploads/<uuid>
  blob: blobRoutes, //            /v2/<name>/blobs/<digest>
  referrers: referrerRoutes, //   /v2/<name>/referrers/<digest>
};

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `/` answers every method, as Distribution's liveness handler does; listed for OPTIONS' Allow. */
const ROOT = { GET: true, HEAD: true };

export interface DispatchDeps {
  registry: Registry;
  settings: Settings;
  driver: StorageDriver;
  redis?: RedisClient;
  gc?: OnlineGc;
  tokens?: TokenService;
  auth?: AuthSetup;
  /** Registry events (notifications): handlers record them before answering. */
  events?: Notifier;
  /** The pull-through cache, when upstreams are configured (repositories they claim: ./routes/proxy.ts). */
  cache?: PullThroughCache;
}

function notFound(path: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `no API endpoint at ${path}`, { path }, { status: 404 });
}

function methodOf<T>(handlers: Partial<Record<string, T>>, request: FastifyRequest): T {
  const handler = Object.hasOwn(handlers, request.method) ? handlers[request.method] : undefined;
  if (handler) return handler;
  throw new RegistryError(
    'UNSUPPORTED',
    `${request.method} is not supported on ${request.berth.target.path}`,
    undefined,
    {
      headers: { Allow: Object.keys(handlers).join(', ') },
    },
  );
}

/** The handlers of a route: a cached repository's (./routes/proxy.ts) when an upstream claims it. */
function handlersOf(route: { family: 'registry' } & RouteMatch & { upstream?: UpstreamClaim }): MethodHandlers {
  if (!route.upstream) return REGISTRY_HANDLERS[route.route];
  const handlers = PROXY_HANDLERS[route.route];
  if (handlers) return handlers;
  throw new RegistryError(
    'UNSUPPORTED',
    `${route.name} is a pull-through cache of ${route.upstream.upstream}: pushing to it is not supported`,
  );
}

export function createDispatcher({ registry, settings, driver, redis, gc, tokens, auth, events, cache }: DispatchDeps) {
  const admin = adminEndpoints(gc, registry);
  const health = healthEndpoint(driver, redis);
  const token: Endpoint | undefined = tokens ? tokenEndpoint(tokens) : undefined;
  const ui = uiEndpoint({ prefix: settings.prefix });
  const uiApi = uiApiEndpoints({ registry, settings, auth });

  async function serveRegistry(
    request: FastifyRequest,
    reply: FastifyReply,
    match: RouteMatch & { family: 'registry'; upstream?: UpstreamClaim },
  ): Promise<void> {
    const handler = methodOf(handlersOf(match), request);
    if (settings.readOnly && WRITE_METHODS.has(request.method)) {
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode (storage.maintenance.readonly)');
    }
    await handler({
      request,
      reply,
      registry,
      settings,
      query: request.berth.target.query,
      rawName: match.name ?? '',
      rawReference: match.reference ?? '',
      events,
      proxy: match.upstream && cache ? { cache, claim: match.upstream } : undefined,
    });
  }

  /** The handlers of a route's URL, by method; undefined where no endpoint is. */
  function endpointOf(route: Route): Partial<Record<string, unknown>> | undefined {
    switch (route.family) {
      case 'registry':
        return REGISTRY_HANDLERS[route.route];
      case 'token':
        return token;
      case 'admin':
        return Object.hasOwn(admin, route.endpoint) ? admin[route.endpoint] : undefined;
      case 'health':
        return health;
      case 'ui':
        return ui;
      case 'ui-api':
        return uiApi[route.endpoint];
      case 'root':
        return ROOT;
      case 'none':
        return undefined;
    }
  }

  // Returning the reply tells fastify the handler has sent (or is streaming) the response itself.
  return async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { route, target } = request.berth;
    const endpoint = endpointOf(route);
    if (!endpoint) throw notFound(target.path);
    // OPTIONS on any endpoint: 200 with Allow (and http.headers, set for every response), as
    // Distribution's router answers it; a CORS preflight is one, let through by the guard.
    if (request.method === 'OPTIONS') {
      reply.code(200).header('Allow', Object.keys(endpoint).join(', ')).header('Content-Length', 0).send();
      return reply;
    }
    switch (route.family) {
      case 'registry':
        await serveRegistry(request, reply, route);
        break;
      case 'root':
        // Distribution answers `/` with 200 and no body, for load balancers' liveness checks.
        reply.code(200).header('Cache-Control', 'no-cache').header('Content-Length', 0).send();
        break;
      default:
        await methodOf(endpoint as Endpoint, request)(request, reply);
    }
    return reply;
  };
}

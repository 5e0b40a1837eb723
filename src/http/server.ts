/**
 * The HTTP server: fastify for the connection, logging, TLS and graceful close; every request
 * goes to the dispatcher, which owns the `/v2/` route table. Errors of any kind leave through
 * one handler that writes the spec's JSON error envelope.
 */
import { apiPrefix } from '../api/routes.js';
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry/registry.js';
import type { Settings } from './context.js';
import { createDispatcher } from './dispatch.js';
import { registerAdminRoutes } from './routes/admin.js';
import type { OnlineGc } from '../registry/gc/scheduler.js';
import type { RedisClient } from '../shared/redis.js';
import { installAuth } from '../auth/index.js';
import { installRateLimits } from '../ratelimit/index.js';
import { applyServerLimits, installServerLimits } from './limits.js';
import { AccessLog } from './access-log.js';
import { enforceClientAuth, httpsOptions } from './tls.js';
import { parseTcpAddress } from '../config/address.js';

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

/** Errors Node raises when a client goes away or sends a broken body: the client's fault. */
function isClientStreamError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || code === 'EPIPE';
}

export interface ServerOptions {
  config: Config;
  registry: Registry;
  logger: Logger;
  /** Online garbage collection, served at `/_berth/admin/gc` when given. */
  gc?: OnlineGc;
  /** The Redis client of Distribution's `redis` block, when configured (rate-limit counters). */
  redis?: RedisClient;
}

export function buildServer({ config, registry, logger, gc, redis }: ServerOptions): FastifyInstance {
  const https = httpsOptions(config.http.tls);
  const options: FastifyServerOptions & { https?: HttpsOptions } = {
    loggerInstance: logger,
    // One access line per request (access-log.ts) instead of fastify's two.
    logController: new AccessLog(logger, !(config.log.accesslog?.disabled ?? false)),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // requestTimeout, header size, idle timeout and parser errors: berth.limits (limits.ts).
    forceCloseConnections: 'idle',
    // A path the router cannot percent-decode (`/v2/a%zz/…`) matches no endpoint, since no name,
    // tag, digest or upload id may contain "%": it gets the JSON 404 of unknown paths, and no
    // handler runs (nor the hooks that guard handlers).
    frameworkErrors: (_error, request, reply) => {
      setCommonHeaders(reply);
      const path = (request.raw.url ?? '/').split('?')[0];
      const error = new RegistryError('UNSUPPORTED', `no API endpoint at ${path} (not valid percent-encoding)`, { path }, { status: 404 });
      sendError(error, request, reply);
    },
  };
  if (https) options.https = https;
  applyServerLimits(options, config);
  const app = Fastify(options) as unknown as FastifyInstance;
  installServerLimits(app, config, logger);
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
    setCommonHeaders(reply);
    // `curl -X HEAD` (a line many registry how-tos carry) sends HEAD but then waits for the
    // Content-Length bytes a HEAD answer never has, until the keep-alive timeout. Closing the
    // connection after the headers ends that wait at once (curl reports exit 18).
    if (request.method === 'HEAD' && request.headers['user-agent']?.startsWith('curl/')) reply.header('Connection', 'close');
  });
  // Authentication and access control (src/auth): a guard hook and the token server, when configured.
  // Rate limits around the guard: failed logins and token requests before it, per-caller budgets after.
  const rateLimits = installRateLimits(app, config, logger, redis);
  const auth = installAuth(app, config, logger);
  rateLimits.afterAuth();

  const sendError = (error: Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof RegistryError) {
      if (error.status >= 500) request.log.error({ err: error }, 'request failed');
      reply.code(error.status).headers(error.headers).type('application/json');
      return reply.send(request.method === 'HEAD' ? undefined : JSON.stringify(error.toBody()));
    }
    if (isClientStreamError(error)) {
      request.log.info({ err: error }, 'client went away during the request');
      return reply.code(400).type('application/json').send(
        JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'request body ended early' }] }),
      );
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.code(status).type('application/json').send(
        JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: (error as Error).message }] }),
      );
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).type('application/json').send(
      JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'internal server error; see the registry log' }] }),
    );
  };
  app.setErrorHandler(sendError);

  const dispatch = createDispatcher(registry, settingsFrom(config, auth?.scheme !== undefined));
  if (gc) registerAdminRoutes(app, gc, apiPrefix(config.http.prefix));
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

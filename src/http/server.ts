/**
 * The HTTP server: fastify for the connection, logging, TLS and graceful close; every request
 * goes to the dispatcher, which owns the `/v2/` route table. Errors of any kind leave through
 * one handler that writes the spec's JSON error envelope.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry/registry.js';
import type { Settings } from './context.js';
import { createDispatcher } from './dispatch.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

export function settingsFrom(config: Config): Settings {
  const prefix = config.http.prefix.replace(/\/+$/, '');
  return {
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
}

export function buildServer({ config, registry, logger }: ServerOptions): FastifyInstance {
  const tls = config.http.tls;
  const options: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    loggerInstance: logger,
    disableRequestLogging: config.log.accesslog?.disabled ?? false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // Uploads can legitimately take long; idle sockets are still closed by Node's own timeouts.
    requestTimeout: 0,
    forceCloseConnections: 'idle',
  };
  if (tls?.certificate && tls.key) {
    options.https = { cert: readFileSync(tls.certificate), key: readFileSync(tls.key) };
  }
  const app = Fastify(options) as unknown as FastifyInstance;

  // Bodies are streamed by the handlers themselves (blobs) or read with a size limit (manifests).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  const staticHeaders = Object.entries(config.http.headers).map(
    ([name, value]) => [name, Array.isArray(value) ? value : [value]] as const,
  );
  app.addHook('onRequest', async (_request, reply) => {
    reply.header(API_VERSION_HEADER, 'registry/2.0');
    for (const [name, values] of staticHeaders) reply.header(name, values.length === 1 ? values[0] : values);
  });

  app.setErrorHandler((error, request, reply) => {
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
  });

  const dispatch = createDispatcher(registry, settingsFrom(config));
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '*',
    handler: dispatch,
  });
  return app;
}

/** `http.addr` as Distribution writes it (":5000", "localhost:5000", "[::1]:5000"). */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const match = /^(?:\[?([^\]]*?)\]?)?:(\d+)$/.exec(addr.trim());
  if (!match) throw new Error(`http.addr: "${addr}" is not host:port`);
  return { host: match[1] || '0.0.0.0', port: Number(match[2]) };
}

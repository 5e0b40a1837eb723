/**
 * From URL to handler: strips the configured prefix, matches the route table, enforces the
 * method, read-only mode, then calls the route family's handler. One file per URL family lives
 * in ./routes; this table is the index from URL to file.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { targetOf, type RouteName } from '../api/routes.js';
import { RegistryError } from '../api/errors.js';
import type { Registry } from '../registry/registry.js';
import type { MethodHandlers, Settings } from './context.js';
import { baseRoutes } from './routes/base.js';
import { blobRoutes } from './routes/blobs.js';
import { catalogRoutes } from './routes/catalog.js';
import { manifestRoutes } from './routes/manifests.js';
import { referrerRoutes } from './routes/referrers.js';
import { tagRoutes } from './routes/tags.js';
import { uploadRoutes, uploadsRoutes } from './routes/uploads.js';

const HANDLERS: Record<RouteName, MethodHandlers> = {
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

export function createDispatcher(registry: Registry, settings: Settings) {
  // Returning the reply tells fastify the handler has sent (or is streaming) the response itself.
  return async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { fullPath, path, query: rawQuery, match } = targetOf(request.raw.url ?? '/', settings.prefix);
    if (path === undefined) throw notFound(fullPath);
    if (!match) throw notFound(path);
    const query = new URLSearchParams(rawQuery);
    const handlers = HANDLERS[match.route];
    const method = request.method as keyof MethodHandlers;
    const handler = handlers[method];
    if (!handler) {
      if (request.raw.readable) request.raw.resume();
      throw new RegistryError('UNSUPPORTED', `${request.method} is not supported on ${path}`, undefined, {
        headers: { Allow: Object.keys(handlers).join(', ') },
      });
    }
    if (settings.readOnly && WRITE_METHODS.has(request.method)) {
      if (request.raw.readable) request.raw.resume();
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode (storage.maintenance.readonly)');
    }
    await handler({
      request,
      reply,
      registry,
      settings,
      query,
      rawName: match.name ?? '',
      rawReference: match.reference ?? '',
    });
    return reply;
  };
}

function notFound(path: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `no API endpoint at ${path}`, { path }, { status: 404 });
}

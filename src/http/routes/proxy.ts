/**
 * The `/v2/<name>/…` endpoints of a repository an upstream claims (pull-through caching,
 * docs/proxy.md; src/request/upstream.ts decides which). Reads go through the cache
 * (src/registry/proxy/cache.ts) and are then answered as for any repository; pushes and deletes
 * are refused with `UNSUPPORTED`, as Distribution refuses them in a cache.
 *
 *   /v2/<name>/manifests/<reference>   GET, HEAD   tag revalidated upstream, content fetched once
 *   /v2/<name>/blobs/<digest>          GET, HEAD   served from storage, or streamed while cached
 *   /v2/<name>/tags/list               GET         the upstream's tags (the cached ones if it fails)
 *   /v2/<name>/referrers/<digest>      GET         the cached referrers
 */
import { RegistryError } from '../../api/errors.js';
import type { RouteName } from '../../api/routes.js';
import {
  digestParam,
  page,
  pagination,
  repositoryName,
  setNextLink,
  type Context,
  type MethodHandlers,
} from '../context.js';
import { apiPaths } from '../../api/routes.js';
import { compareBytes } from '../../registry/tags.js';
import { serveBlob } from './blobs.js';
import { blobTarget, notify } from '../events.js';
import { existingReference, sendManifest } from './manifests.js';
import { referrerRoutes } from './referrers.js';
import { sendStream } from '../stream-body.js';

/** RFC 9111's warning for a stale answer, kept by registries and proxies that still read it. */
const STALE_WARNING = '110 berth "Response is Stale"';

function cacheOf(context: Context): NonNullable<Context['proxy']> {
  if (!context.proxy) throw new RegistryError('UNSUPPORTED', 'pull-through caching is not configured');
  return context.proxy;
}

async function serveManifest(context: Context, withBody: boolean): Promise<void> {
  const { cache, claim } = cacheOf(context);
  const ref = existingReference(context);
  const result = await cache.manifest(repositoryName(context), claim, ref);
  if (result.stale !== undefined) context.reply.header('Warning', STALE_WARNING);
  await sendManifest(context, result.manifest, withBody, ref);
}

async function serveCachedBlob(context: Context, withBody: boolean): Promise<void> {
  const { cache, claim } = cacheOf(context);
  const name = repositoryName(context);
  const digest = digestParam(context.rawReference);
  if (!withBody) {
    const size = await cache.headBlob(name, claim, digest);
    context.reply
      .header('Docker-Content-Digest', digest.value)
      .header('Content-Length', size)
      .type('application/octet-stream')
      .send();
    return;
  }
  const blob = await cache.blob(name, claim, digest);
  if (blob.kind === 'local') return serveBlob(context, true);
  // The first pull: the whole blob as it arrives (a Range is answered once it is stored).
  await notify(context, 'pull', [blobTarget(context, name, digest, blob.size ?? 0)]);
  context.reply.header('Docker-Content-Digest', digest.value).type('application/octet-stream');
  if (blob.size !== undefined) context.reply.header('Content-Length', blob.size);
  sendStream(context.reply, blob.stream);
}

export const proxyManifestRoutes: MethodHandlers = {
  GET: (context) => serveManifest(context, true),
  HEAD: (context) => serveManifest(context, false),
};

export const proxyBlobRoutes: MethodHandlers = {
  GET: (context) => serveCachedBlob(context, true),
  HEAD: (context) => serveCachedBlob(context, false),
};

export const proxyTagRoutes: MethodHandlers = {
  GET: async (context) => {
    const { cache, claim } = cacheOf(context);
    const name = repositoryName(context);
    const { n, last } = pagination(context, Number.MAX_SAFE_INTEGER);
    const tags = [...(await cache.tags(name, claim))].sort(compareBytes);
    const { items, more } = page(tags, n, last);
    if (more && n !== undefined) setNextLink(context, apiPaths.tags(name, { n, last: items[items.length - 1] }));
    context.reply.type('application/json').send(JSON.stringify({ name, tags: items }));
  },
};

/** Handlers of a cached repository's routes; a route or method missing here answers UNSUPPORTED. */
export const PROXY_HANDLERS: Partial<Record<RouteName, MethodHandlers>> = {
  manifest: proxyManifestRoutes,
  blob: proxyBlobRoutes,
  tags: proxyTagRoutes,
  referrers: referrerRoutes,
};

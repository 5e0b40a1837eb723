/**
 * The route table of the `/v2/` API, shared by the server (to dispatch) and by URL builders (to
 * write `Location` and `Link` headers). Repository names contain slashes, so routes are matched
 * here by pattern rather than by the HTTP framework's router.
 */

export type RouteName = 'base' | 'catalog' | 'tags' | 'manifest' | 'uploads' | 'upload' | 'blob' | 'referrers';

export interface RouteMatch {
  route: RouteName;
  /** Repository name, for every route but base and catalog. */
  name?: string;
  /** Tag or digest (manifest), digest (blob, referrers) or upload UUID (upload). */
  reference?: string;
}

// Order matters: uploads before blob, since `…/blobs/uploads/<uuid>` also looks like a blob URL.
const ROUTES: ReadonlyArray<{ route: RouteName; pattern: RegExp }> = [
  { route: 'base', pattern: /^\/v2\/?$/ },
  { route: 'catalog', pattern: /^\/v2\/_catalog$/ },
  { route: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/ },
  { route: 'manifest', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/ },
  { route: 'uploads', pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/ },
  { route: 'upload', pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/ },
  { route: 'blob', pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/ },
  { route: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/ },
];

/** Matches a request path (without query string, without any configured prefix). */
export function matchRoute(path: string): RouteMatch | undefined {
  for (const { route, pattern } of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    const result: RouteMatch = { route };
    if (match[1] !== undefined) result.name = match[1];
    if (match[2] !== undefined) result.reference = match[2];
    return result;
  }
  return undefined;
}

/** `http.prefix` as the route table and the URL builders take it: without its trailing slash ("" for none). */
export function apiPrefix(configured: string): string {
  return configured.replace(/\/+$/, '');
}

function withQuery(path: string, query?: Record<string, string | number | undefined>): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Paths of the API, relative to the registry's root (prefix them with a base URL). */
export const apiPaths = {
  base: () => '/v2/',
  catalog: (query?: { n?: number; last?: string }) => withQuery('/v2/_catalog', query),
  tags: (name: string, query?: { n?: number; last?: string }) => withQuery(`/v2/${name}/tags/list`, query),
  manifest: (name: string, reference: string) => `/v2/${name}/manifests/${reference}`,
  blob: (name: string, digest: string) => `/v2/${name}/blobs/${digest}`,
  uploads: (name: string, query?: Record<string, string | undefined>) => withQuery(`/v2/${name}/blobs/uploads/`, query),
  upload: (name: string, uuid: string) => `/v2/${name}/blobs/uploads/${uuid}`,
  referrers: (name: string, digest: string, query?: { n?: number; last?: string; artifactType?: string }) =>
    withQuery(`/v2/${name}/referrers/${digest}`, query),
};

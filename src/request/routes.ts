/**
 * Every URL family Berth serves, in one table: the `/v2/` API, the built-in token server,
 * `/_berth/admin/…` and `/_berth/health`. A decoded path (RequestTarget.path) gets exactly one
 * `Route` here, and every layer (dispatch, access rules, rate limits, logs) reads that route, so
 * a family added later (UI, metrics, events) is added here once and is guarded like the rest.
 *
 *   URL                                      family     notes
 *   <prefix>/v2/…                            registry   the route table of src/api/routes.ts
 *   <tokenserver.path>                       token      exact path, also with a trailing "/"
 *   [<prefix>]/_berth/admin[/<endpoint>…]    admin      the whole tree, with or without prefix
 *   [<prefix>]/_berth/health                 health     with or without prefix
 *   <berth.ui.path>                          ui         the web UI's page (when the UI is on)
 *   [<prefix>]/_berth/ui/<asset>             ui         its script and style sheet
 *   [<prefix>]/_berth/api/…                  ui-api     the UI's JSON endpoints (see below)
 *   /  (when the UI is not there)            root       200, empty: Distribution's liveness answer
 *   anything else                            none       404
 *
 * The UI's JSON endpoints, for what the `/v2/` API lacks (search, sizes, rights):
 *   /_berth/api/session                      session       how to sign in; who the caller is
 *   /_berth/api/repositories                 repositories  search and pages of repositories
 *   /_berth/api/repositories/<name>/tags     tags          tags with digest, size, platforms, dates
 *   /_berth/api/storage                      storage       bytes stored
 *
 * `prefix` is `http.prefix`; it is matched segment by segment on the decoded path.
 *
 * The debug listener (`http.debug.addr`, its own port) has a table of its own, `debugRouteOf`:
 *   /debug/health                            health     Distribution's health status
 *   <http.debug.prometheus.path>             metrics    Prometheus metrics, when enabled
 */
import { matchRoute, type RouteMatch } from '../api/routes.js';
import type { UpstreamClaim, UpstreamTable } from './upstream.js';

export const ADMIN_PATH = '/_berth/admin';
export const HEALTH_PATH = '/_berth/health';
export const UI_ASSETS_PATH = '/_berth/ui';
export const UI_API_PATH = '/_berth/api';

export type UiApiEndpoint = 'session' | 'repositories' | 'tags' | 'storage';

export type Route =
  /** `upstream`: the repository is a pull-through cache of it; `name` is then the local name (upstream.ts). */
  | ({ family: 'registry'; upstream?: UpstreamClaim } & RouteMatch)
  | { family: 'token' }
  /** `endpoint` is the path below `/_berth/admin/` ("" for the tree's root). */
  | { family: 'admin'; endpoint: string }
  | { family: 'health' }
  /** `asset` is `index` for the page, else the file name below `/_berth/ui/`. */
  | { family: 'ui'; asset: string }
  | { family: 'ui-api'; endpoint: UiApiEndpoint; name?: string }
  | { family: 'root' }
  | { family: 'none' };

export interface RouteSettings {
  /** `http.prefix` without its trailing slash ("" for none). */
  prefix: string;
  /** The token server's path, when Berth serves tokens. */
  tokenPath?: string;
  /** The web UI's page (`berth.ui.path`); undefined when the UI is off. */
  uiPath?: string;
  /** Pull-through caching: which repositories belong to an upstream (upstream.ts). */
  upstreams?: UpstreamTable;
}

const NONE: Route = { family: 'none' };

/** The path below `base` (segment-wise: `/ab` is not below `/a`), or undefined. */
function below(path: string, base: string): string | undefined {
  if (base === '') return path;
  if (path === base) return '';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

const UI_API_ROUTES: ReadonlyArray<{ endpoint: UiApiEndpoint; pattern: RegExp }> = [
  { endpoint: 'session', pattern: /^\/session$/ },
  { endpoint: 'repositories', pattern: /^\/repositories$/ },
  { endpoint: 'tags', pattern: /^\/repositories\/(.+)\/tags$/ },
  { endpoint: 'storage', pattern: /^\/storage$/ },
];

function uiApiRoute(path: string): Route {
  for (const { endpoint, pattern } of UI_API_ROUTES) {
    const match = pattern.exec(path);
    if (match)
      return match[1] === undefined ? { family: 'ui-api', endpoint } : { family: 'ui-api', endpoint, name: match[1] };
  }
  return NONE;
}

function berthRoute(path: string, ui: boolean): Route | undefined {
  const admin = below(path, ADMIN_PATH);
  if (admin !== undefined) return { family: 'admin', endpoint: admin.replace(/^\//, '') };
  if (path === HEALTH_PATH) return { family: 'health' };
  if (!ui) return undefined;
  const asset = below(path, UI_ASSETS_PATH);
  if (asset !== undefined && /^\/[a-z0-9.-]+$/.test(asset)) return { family: 'ui', asset: asset.slice(1) };
  const api = below(path, UI_API_PATH);
  if (api !== undefined) return uiApiRoute(api);
  return undefined;
}

/** A configured path, matched with or without its trailing slash. */
function withAndWithoutSlash(configured: string | undefined): ReadonlySet<string> {
  if (configured === undefined) return new Set();
  const path = configured.replace(/\/+$/, '') || '/';
  return new Set([path, path === '/' ? '/' : `${path}/`]);
}

export class RouteTable {
  private readonly tokenPaths: ReadonlySet<string>;
  private readonly uiPaths: ReadonlySet<string>;

  constructor(private readonly settings: RouteSettings) {
    this.tokenPaths = withAndWithoutSlash(settings.tokenPath);
    this.uiPaths = withAndWithoutSlash(settings.uiPath);
  }

  /** The route of a decoded path (the query tells containerd's `ns` of a mirrored repository). */
  routeOf(path: string, query: URLSearchParams = new URLSearchParams()): Route {
    if (this.tokenPaths.has(path)) return { family: 'token' };
    if (this.uiPaths.has(path)) return { family: 'ui', asset: 'index' };
    if (path === '/') return { family: 'root' };
    const ui = this.settings.uiPath !== undefined;
    const apiPath = below(path, this.settings.prefix);
    if (apiPath !== undefined) {
      const inside = apiPath === '' ? '/' : apiPath;
      const berth = berthRoute(inside, ui);
      if (berth) return berth;
      const match = matchRoute(inside);
      if (match) return this.registryRoute(match, query);
    }
    // Berth's own endpoints answer at the root too when a prefix is set.
    return (this.settings.prefix ? berthRoute(path, ui) : undefined) ?? NONE;
  }

  private registryRoute(match: RouteMatch, query: URLSearchParams): Route {
    const upstreams = this.settings.upstreams;
    if (match.name === undefined || !upstreams?.enabled) return { family: 'registry', ...match };
    const claimed = upstreams.claim(match.name, query);
    if (!claimed) return { family: 'registry', ...match };
    return { family: 'registry', ...match, name: claimed.local, upstream: claimed.claim };
  }
}

export const DEBUG_HEALTH_PATH = '/debug/health';

export type DebugRoute = 'health' | 'metrics' | 'none';

/** The route of a decoded path on the debug listener; `metricsPath` is set when metrics are on. */
export function debugRouteOf(path: string, metricsPath: string | undefined): DebugRoute {
  if (path === DEBUG_HEALTH_PATH) return 'health';
  return path === metricsPath ? 'metrics' : 'none';
}

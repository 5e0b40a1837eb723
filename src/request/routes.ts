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
 *   anything else                            none       404
 *
 * `prefix` is `http.prefix`; it is matched segment by segment on the decoded path.
 */
import { matchRoute, type RouteMatch } from '../api/routes.js';

export const ADMIN_PATH = '/_berth/admin';
export const HEALTH_PATH = '/_berth/health';
export const DEFAULT_TOKEN_PATH = '/auth/token';

export type Route =
  | ({ family: 'registry' } & RouteMatch)
  | { family: 'token' }
  /** `endpoint` is the path below `/_berth/admin/` ("" for the tree's root). */
  | { family: 'admin'; endpoint: string }
  | { family: 'health' }
  | { family: 'none' };

export type RouteFamily = Route['family'];

export interface RouteSettings {
  /** `http.prefix` without its trailing slash ("" for none). */
  prefix: string;
  /** The token server's path, when Berth serves tokens. */
  tokenPath?: string;
}

const NONE: Route = { family: 'none' };

/** The path below `base` (segment-wise: `/ab` is not below `/a`), or undefined. */
function below(path: string, base: string): string | undefined {
  if (base === '') return path;
  if (path === base) return '';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

function berthRoute(path: string): Route | undefined {
  const admin = below(path, ADMIN_PATH);
  if (admin !== undefined) return { family: 'admin', endpoint: admin.replace(/^\//, '') };
  if (path === HEALTH_PATH) return { family: 'health' };
  return undefined;
}

export class RouteTable {
  private readonly tokenPaths: ReadonlySet<string>;

  constructor(private readonly settings: RouteSettings) {
    const token = settings.tokenPath === undefined ? undefined : settings.tokenPath.replace(/\/+$/, '') || '/';
    this.tokenPaths = new Set(token === undefined ? [] : [token, token === '/' ? '/' : `${token}/`]);
  }

  get prefix(): string {
    return this.settings.prefix;
  }

  /** The route of a decoded path. */
  routeOf(path: string): Route {
    if (this.tokenPaths.has(path)) return { family: 'token' };
    const apiPath = below(path, this.settings.prefix);
    if (apiPath !== undefined) {
      const inside = apiPath === '' ? '/' : apiPath;
      const berth = berthRoute(inside);
      if (berth) return berth;
      const match = matchRoute(inside);
      if (match) return { family: 'registry', ...match };
    }
    // Health and the administrative tree answer at the root too when a prefix is set.
    return (this.settings.prefix ? berthRoute(path) : undefined) ?? NONE;
  }
}

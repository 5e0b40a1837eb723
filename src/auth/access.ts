/**
 * What each request needs before it reaches a handler: the resource scopes of the token
 * specification, per route and method, as Distribution asks for them (pull to read; pull and
 * push to upload or put a manifest; delete to delete; `registry:catalog:*` for the catalog;
 * `registry:admin:*` for Berth's administrative endpoints).
 */
import { isValidName } from '../api/reference.js';
import type { Route } from '../request/routes.js';
import { ADMIN, CATALOG, REPOSITORY, type ResourceAccess } from './scope.js';

export type Requirement =
  /** Not guarded: paths that match no endpoint (they answer 404), the token server and health. */
  | { kind: 'open' }
  /** Any valid credentials: `/v2/`, and requests that fail validation before touching a repository. */
  | { kind: 'authenticated' }
  /** Credentials that grant every listed access. */
  | { kind: 'access'; access: ResourceAccess[] };

const OPEN: Requirement = { kind: 'open' };
const AUTHENTICATED: Requirement = { kind: 'authenticated' };

function repository(name: string, ...actions: string[]): ResourceAccess {
  return { type: REPOSITORY, name, actions };
}

function needs(...access: ResourceAccess[]): Requirement {
  return { kind: 'access', access };
}

/**
 * The web UI's JSON endpoints: the session is open (it says how to sign in); the repository list
 * needs any valid credentials and shows only what the caller may pull, as the catalog does; a
 * repository's tags need pull on it; storage figures need the catalog right.
 */
function uiApiRequirement(endpoint: string, name: string | undefined): Requirement {
  switch (endpoint) {
    case 'session':
      return OPEN;
    case 'tags':
      return name !== undefined && isValidName(name) ? needs(repository(name, 'pull')) : AUTHENTICATED;
    case 'storage':
      return needs(CATALOG);
    default:
      return AUTHENTICATED;
  }
}

/** The requirement of one request, from its method, its route and its query (src/request). */
export function requirementFor(method: string, route: Route, query: URLSearchParams): Requirement {
  // Every path of the administrative tree needs the right, even one that names no endpoint.
  if (route.family === 'admin') return needs(ADMIN);
  if (route.family === 'ui-api') return uiApiRequirement(route.endpoint, route.name);
  if (route.family !== 'registry') return OPEN;
  const match = route;
  if (match.route === 'base') return AUTHENTICATED;
  if (match.route === 'catalog') return method === 'GET' ? needs(CATALOG) : AUTHENTICATED;
  const name = match.name ?? '';
  // An invalid name is refused by the handler; naming it in a challenge would echo arbitrary text.
  if (!isValidName(name)) return AUTHENTICATED;
  const read = method === 'GET' || method === 'HEAD';
  switch (match.route) {
    case 'tags':
    case 'referrers':
      return method === 'GET' ? needs(repository(name, 'pull')) : AUTHENTICATED;
    case 'manifest':
    case 'blob':
      if (read) return needs(repository(name, 'pull'));
      if (method === 'DELETE') return needs(repository(name, 'delete'));
      if (method === 'PUT' && match.route === 'manifest') return needs(repository(name, 'pull', 'push'));
      return AUTHENTICATED;
    case 'uploads': {
      if (method !== 'POST') return AUTHENTICATED;
      const access = [repository(name, 'pull', 'push')];
      // A cross-repository mount reads the source repository too (Distribution asks for both).
      const from = query.get('from');
      if (query.get('mount') !== null && from !== null && from !== name && isValidName(from))
        access.push(repository(from, 'pull'));
      return needs(...access);
    }
    case 'upload':
      return ['GET', 'PATCH', 'PUT', 'DELETE'].includes(method)
        ? needs(repository(name, 'pull', 'push'))
        : AUTHENTICATED;
    default:
      return AUTHENTICATED;
  }
}

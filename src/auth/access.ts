/**
 * What each request needs before it reaches a handler: the resource scopes of the token
 * specification, per route and method, as Distribution asks for them (pull to read; pull and
 * push to upload or put a manifest; delete to delete; `registry:catalog:*` for the catalog;
 * `registry:admin:*` for Berth's administrative endpoints).
 */
import { isValidName } from '../api/reference.js';
import { targetOf } from '../api/routes.js';
import { ADMIN, CATALOG, REPOSITORY, type ResourceAccess } from './scope.js';

export type Requirement =
  /** Not guarded here: paths outside the API (they answer 404) and the token endpoint. */
  | { kind: 'open' }
  /** Any valid credentials: `/v2/`, and requests that fail validation before touching a repository. */
  | { kind: 'authenticated' }
  /** Credentials that grant every listed access. */
  | { kind: 'access'; access: ResourceAccess[] };

export const ADMIN_PATH = '/_berth/admin';

const OPEN: Requirement = { kind: 'open' };
const AUTHENTICATED: Requirement = { kind: 'authenticated' };

function repository(name: string, ...actions: string[]): ResourceAccess {
  return { type: REPOSITORY, name, actions };
}

function needs(...access: ResourceAccess[]): Requirement {
  return { kind: 'access', access };
}

/** Whether a path is one of Berth's administrative endpoints (with or without the API prefix). */
export function isAdminPath(path: string, prefix: string): boolean {
  for (const base of prefix ? [ADMIN_PATH, `${prefix}${ADMIN_PATH}`] : [ADMIN_PATH]) {
    if (path === base || path.startsWith(`${base}/`)) return true;
  }
  return false;
}

/** The requirement of one request, from its method and raw URL (`prefix` is `http.prefix` without its trailing slash). */
export function requirementFor(method: string, rawUrl: string, prefix: string): Requirement {
  const target = targetOf(rawUrl, prefix);
  if (isAdminPath(target.fullPath, prefix)) return needs(ADMIN);
  const match = target.match;
  if (!match) return OPEN;
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
      const query = new URLSearchParams(target.query);
      const from = query.get('from');
      if (query.get('mount') !== null && from !== null && from !== name && isValidName(from)) access.push(repository(from, 'pull'));
      return needs(...access);
    }
    case 'upload':
      return ['GET', 'PATCH', 'PUT', 'DELETE'].includes(method) ? needs(repository(name, 'pull', 'push')) : AUTHENTICATED;
    default:
      return AUTHENTICATED;
  }
}

/**
 * `WWW-Authenticate` challenges (RFC 6750 §3, RFC 7617) as Distribution writes them:
 * `Bearer realm="…",service="…",scope="repository:a:pull,push"` plus `error="invalid_token"` or
 * `error="insufficient_scope"`; `Basic realm="…"` for htpasswd.
 */
import { formatScope, type ResourceAccess } from './scope.js';

export type BearerError = 'invalid_token' | 'insufficient_scope';

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

export function bearerChallenge(realm: string, service: string, scopes: ResourceAccess[], error?: BearerError): string {
  let header = `Bearer realm=${quote(realm)},service=${quote(service)}`;
  if (scopes.length > 0) header += `,scope=${quote(scopes.map(formatScope).join(' '))}`;
  if (error) header += `,error=${quote(error)}`;
  return header;
}

export function basicChallenge(realm: string): string {
  return `Basic realm=${quote(realm)}`;
}

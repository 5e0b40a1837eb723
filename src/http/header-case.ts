/**
 * Header names on the wire in canonical case (`Docker-Content-Digest`, `Content-Type`), as Go's
 * net/http writes them for Distribution. fastify keeps header names in lower case and Node sends
 * them as given, so scripts that `grep Docker-Content-Digest` in `curl -i` output would find
 * nothing. HTTP/2 has lower-case names by definition and is left alone.
 */
import { ServerResponse, type OutgoingHttpHeaders } from 'node:http';

/** Go's textproto.CanonicalMIMEHeaderKey: first letter and letters after `-` upper, others lower. */
export function canonicalHeaderName(name: string): string {
  // Go leaves a name with characters outside a token as it is.
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return name;
  return name
    .toLowerCase()
    .replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

function canonicalHeaders(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) result[canonicalHeaderName(name)] = value;
  return result;
}

/** Makes `response` write every header name in canonical case, however it was set. */
export function sendCanonicalHeaderNames(response: ServerResponse): void {
  if (!(response instanceof ServerResponse)) return;
  const writeHead = response.writeHead;
  response.writeHead = function writeCanonicalHead(this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    // Headers set earlier with setHeader keep the spelling they were set with: respell them.
    for (const name of this.getHeaderNames()) {
      const canonical = canonicalHeaderName(name);
      const value = this.getHeader(name);
      if (value === undefined) continue;
      this.removeHeader(name);
      this.setHeader(canonical, value);
    }
    const last = rest.length - 1;
    if (last >= 0 && typeof rest[last] === 'object' && rest[last] !== null && !Array.isArray(rest[last]))
      rest[last] = canonicalHeaders(rest[last] as OutgoingHttpHeaders);
    return (writeHead as (...args: unknown[]) => ServerResponse).call(this, statusCode, ...rest);
  } as typeof response.writeHead;
}

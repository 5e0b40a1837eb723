/** Whether a request carries a body, from its headers alone. */
import type { IncomingHttpHeaders } from 'node:http';

/** True when the request carries a body (a length above zero, or chunked transfer). */
export function hasBody(request: { headers: IncomingHttpHeaders }): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}

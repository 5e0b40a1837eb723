/** Reading credentials from an `Authorization` header (RFC 7617 Basic, RFC 6750 Bearer). */

export interface BasicCredentials {
  user: string;
  password: string;
}

/** The credentials of a Basic header; 'malformed' for a Basic header that cannot be read; undefined for none. */
export function basicCredentials(header: string | undefined): BasicCredentials | 'malformed' | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() !== 'basic') return undefined;
  if (!value || !/^[A-Za-z0-9+/]+=*$/.test(value)) return 'malformed';
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'malformed';
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The token of a Bearer header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  return scheme?.toLowerCase() === 'bearer' && value ? value : undefined;
}

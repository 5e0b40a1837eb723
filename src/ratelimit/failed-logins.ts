/**
 * The hook the auth code calls when credentials are wrong (HTTP Basic against the htpasswd file,
 * or the token server's password grant), so that failed logins count against the caller's
 * `failedlogins` budget. It never throws and does nothing when rate limits are off.
 */
import type { IncomingMessage } from 'node:http';

type Handler = (account: string | undefined) => Promise<void>;

const handlers = new WeakMap<IncomingMessage, Handler>();

/** Registers what counts a failed login for this request (done by the rate-limit hook). */
export function watchFailedLogins(request: IncomingMessage, handler: Handler): void {
  handlers.set(request, handler);
}

/** Counts one failed login for the request's client; `account` is the user name that was tried. */
export async function onFailedLogin(request: { raw: IncomingMessage } | IncomingMessage, account?: string): Promise<void> {
  const raw = 'raw' in request ? request.raw : request;
  const handler = handlers.get(raw);
  if (!handler) return;
  try {
    await handler(account);
  } catch {
    // Counting must never turn a 401 into a 500; the counters log their own trouble.
  }
}

/**
 * The built-in token server (Distribution's token specification and its OAuth2 variant):
 *
 *   GET  <path>?service=…&scope=…[&scope=…][&account=…][&offline_token=true]   HTTP Basic or anonymous
 *   POST <path>  grant_type=password (username, password) | refresh_token (refresh_token),
 *                service, scope (space-separated), access_type=offline
 *
 * It grants the intersection of what is asked and what the rules allow (a partly allowed scope
 * is never an error), and answers `{"token","access_token","expires_in","issued_at"}` plus
 * `refresh_token` when asked. Bad credentials are the only refusal besides malformed requests.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { basicCredentials } from '../basic.js';
import { basicChallenge } from '../challenge.js';
import type { HtpasswdUsers } from '../htpasswd/users.js';
import type { AccessPolicy, Identity } from '../rules.js';
import { formatScope, parseScopes, scopeProblem, type ResourceAccess } from '../scope.js';
import type { TokenServerSetup } from '../settings.js';
import { onFailedLogin } from '../../ratelimit/failed-logins.js';

const FORM_LIMIT = 64 * 1024;

class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    /** OAuth2 error code (RFC 6749 §5.2). */
    readonly oauth: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new TokenRequestError(400, 'invalid_request', message);

async function readForm(request: FastifyRequest): Promise<URLSearchParams> {
  const type = String(request.headers['content-type'] ?? '');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request.raw) {
    total += (chunk as Buffer).length;
    if (total > FORM_LIMIT) {
      request.raw.resume();
      throw badRequest(`form body exceeds ${FORM_LIMIT} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw badRequest('POST needs Content-Type: application/x-www-form-urlencoded');
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export interface TokenServerDeps {
  server: TokenServerSetup;
  users: HtpasswdUsers;
  policy: AccessPolicy;
}

export function registerTokenServer(app: FastifyInstance, { server, users, policy }: TokenServerDeps): void {
  function serviceOf(params: URLSearchParams): string {
    const service = params.get('service') || server.services[0]!;
    if (!server.services.includes(service)) throw badRequest(`this token server issues tokens for ${server.services.map((each) => `"${each}"`).join(', ')}, not "${service}"`);
    return service;
  }

  function scopesOf(values: string[]): ResourceAccess[] {
    const { scopes, invalid } = parseScopes(values);
    if (invalid.length > 0) throw new TokenRequestError(400, 'invalid_scope', scopeProblem(invalid[0]!));
    return scopes;
  }

  async function issue(identity: Identity, service: string, requested: ResourceAccess[], request: FastifyRequest) {
    const granted = policy.grant(identity, requested);
    const issued = await server.issuer.accessToken(identity.user ?? '', service, granted);
    request.log.debug({ user: identity.user ?? '(anonymous)', service, granted: granted.map(formatScope) }, 'issued a token');
    return { issued, granted };
  }

  function refreshFor(user: string, service: string): string {
    return server.issuer.refreshToken({ subject: user, service, fingerprint: users.fingerprint(user) ?? '' });
  }

  async function handleGet(request: FastifyRequest): Promise<Record<string, unknown>> {
    const url = request.raw.url ?? '';
    const params = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    const service = serviceOf(params);
    const requested = scopesOf(params.getAll('scope'));
    const credentials = basicCredentials(request.headers.authorization);
    const challenge = { 'WWW-Authenticate': basicChallenge(server.basicRealm) };
    if (credentials === 'malformed') throw new TokenRequestError(401, 'invalid_client', 'malformed Basic credentials', challenge);
    const identity: Identity = {};
    if (credentials) {
      if (!(await users.verify(credentials.user, credentials.password))) {
        await onFailedLogin(request, credentials.user);
        throw new TokenRequestError(401, 'invalid_client', 'invalid username or password', challenge);
      }
      identity.user = credentials.user;
      const account = params.get('account');
      if (account && account !== credentials.user) throw badRequest(`account "${account}" does not match the credentials' user`);
    }
    const { issued } = await issue(identity, service, requested, request);
    const body: Record<string, unknown> = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    if (params.get('offline_token') === 'true' && identity.user) body.refresh_token = refreshFor(identity.user, service);
    return body;
  }

  async function handlePost(request: FastifyRequest): Promise<Record<string, unknown>> {
    const form = await readForm(request);
    const service = serviceOf(form);
    const requested = scopesOf(form.getAll('scope'));
    const grant = form.get('grant_type');
    let user: string;
    let refreshToken: string | undefined;
    if (grant === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (!username || password === null) throw badRequest('grant_type=password needs username and password');
      if (!(await users.verify(username, password))) {
        await onFailedLogin(request, username);
        throw new TokenRequestError(400, 'invalid_grant', 'invalid username or password');
      }
      user = username;
      if (form.get('access_type') === 'offline') refreshToken = refreshFor(user, service);
    } else if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const record = server.issuer.readRefreshToken(presented);
      if (!record) throw new TokenRequestError(400, 'invalid_grant', 'refresh token is invalid or expired');
      if (record.service !== service) throw new TokenRequestError(400, 'invalid_grant', `refresh token was issued for service "${record.service}"`);
      if (users.fingerprint(record.subject) !== record.fingerprint) {
        throw new TokenRequestError(400, 'invalid_grant', 'refresh token is revoked (the user was removed or changed password)');
      }
      user = record.subject;
      refreshToken = presented;
    } else {
      throw new TokenRequestError(400, 'unsupported_grant_type', `grant_type must be password or refresh_token, not "${grant ?? ''}"`);
    }
    const { issued, granted } = await issue({ user }, service, requested, request);
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      scope: granted.map(formatScope).join(' '),
    };
    if (refreshToken) body.refresh_token = refreshToken;
    return body;
  }

  async function handler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').type('application/json');
    try {
      const body = request.method === 'POST' ? await handlePost(request) : await handleGet(request);
      return reply.code(200).send(JSON.stringify(body));
    } catch (error) {
      if (!(error instanceof TokenRequestError)) throw error;
      if (request.raw.readable) request.raw.resume();
      const code = error.status === 401 ? 'UNAUTHORIZED' : error.oauth.toUpperCase();
      // Both shapes: the registry's error envelope (Docker's client reads it) and OAuth2's.
      const body = { errors: [{ code, message: error.message }], error: error.oauth, error_description: error.message };
      return reply.code(error.status).headers(error.headers).send(JSON.stringify(body));
    }
  }

  const paths = new Set([server.path, server.path.endsWith('/') ? server.path.replace(/\/+$/, '') || '/' : `${server.path}/`]);
  for (const url of paths) app.route({ method: ['GET', 'POST'], url, handler });
}

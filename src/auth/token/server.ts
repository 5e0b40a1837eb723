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
 * This is the service; its HTTP route (reading the query or form) is src/http/routes/token.ts.
 */
import { basicCredentials } from '../basic.js';
import { basicChallenge } from '../challenge.js';
import type { HtpasswdUsers } from '../htpasswd/users.js';
import type { AccessPolicy, Identity } from '../rules.js';
import { formatScope, parseScopes, scopeProblem, type ResourceAccess } from '../scope.js';
import type { TokenServerSetup } from '../settings.js';
import { badTokenRequest as badRequest, TokenRequestError } from './errors.js';

/** The largest form a POST may send. */
export const TOKEN_FORM_LIMIT = 64 * 1024;

export interface TokenServerDeps {
  server: TokenServerSetup;
  users: HtpasswdUsers;
  policy: AccessPolicy;
}

/** One token request, as the HTTP route hands it over. */
export interface TokenRequest {
  /** The query (GET) or the form (POST). */
  params: URLSearchParams;
  authorization?: string;
  /** Reports wrong credentials, so that the failed-login budget counts them. */
  loginFailed(account: string | undefined): Promise<void>;
  log: { debug(details: object, message: string): void };
}

export interface TokenService {
  /** GET: HTTP Basic or anonymous. Resolves to the JSON answer; throws TokenRequestError. */
  get(request: TokenRequest): Promise<Record<string, unknown>>;
  /** POST: the OAuth2 grants. Resolves to the JSON answer; throws TokenRequestError. */
  post(request: TokenRequest): Promise<Record<string, unknown>>;
}

export function createTokenService({ server, users, policy }: TokenServerDeps): TokenService {
  function serviceOf(params: URLSearchParams): string {
    const service = params.get('service') || server.services[0]!;
    if (!server.services.includes(service))
      throw badRequest(
        `this token server issues tokens for ${server.services.map((each) => `"${each}"`).join(', ')}, not "${service}"`,
      );
    return service;
  }

  function scopesOf(values: string[]): ResourceAccess[] {
    const { scopes, invalid } = parseScopes(values);
    if (invalid.length > 0) throw new TokenRequestError(400, 'invalid_scope', scopeProblem(invalid[0]!));
    return scopes;
  }

  async function issue(identity: Identity, service: string, requested: ResourceAccess[], request: TokenRequest) {
    const granted = policy.grant(identity, requested);
    const issued = await server.issuer.accessToken(identity.user ?? '', service, granted);
    request.log.debug(
      { user: identity.user ?? '(anonymous)', service, granted: granted.map(formatScope) },
      'issued a token',
    );
    return { issued, granted };
  }

  function refreshFor(user: string, service: string): string {
    return server.issuer.refreshToken({ subject: user, service, fingerprint: users.fingerprint(user) ?? '' });
  }

  async function handleGet(request: TokenRequest): Promise<Record<string, unknown>> {
    const { params } = request;
    const service = serviceOf(params);
    const requested = scopesOf(params.getAll('scope'));
    const credentials = basicCredentials(request.authorization);
    const challenge = { 'WWW-Authenticate': basicChallenge(server.basicRealm) };
    if (credentials === 'malformed')
      throw new TokenRequestError(401, 'invalid_client', 'malformed Basic credentials', challenge);
    const identity: Identity = {};
    if (credentials) {
      if (!(await users.verify(credentials.user, credentials.password))) {
        await request.loginFailed(credentials.user);
        throw new TokenRequestError(401, 'invalid_client', 'invalid username or password', challenge);
      }
      identity.user = credentials.user;
      const account = params.get('account');
      if (account && account !== credentials.user)
        throw badRequest(`account "${account}" does not match the credentials' user`);
    }
    const { issued } = await issue(identity, service, requested, request);
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
    };
    if (params.get('offline_token') === 'true' && identity.user)
      body.refresh_token = refreshFor(identity.user, service);
    return body;
  }

  async function handlePost(request: TokenRequest): Promise<Record<string, unknown>> {
    const form = request.params;
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
        await request.loginFailed(username);
        throw new TokenRequestError(400, 'invalid_grant', 'invalid username or password');
      }
      user = username;
      if (form.get('access_type') === 'offline') refreshToken = refreshFor(user, service);
    } else if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const record = server.issuer.readRefreshToken(presented);
      if (!record) throw new TokenRequestError(400, 'invalid_grant', 'refresh token is invalid or expired');
      if (record.service !== service)
        throw new TokenRequestError(400, 'invalid_grant', `refresh token was issued for service "${record.service}"`);
      if (users.fingerprint(record.subject) !== record.fingerprint) {
        throw new TokenRequestError(
          400,
          'invalid_grant',
          'refresh token is revoked (the user was removed or changed password)',
        );
      }
      user = record.subject;
      refreshToken = presented;
    } else {
      throw new TokenRequestError(
        400,
        'unsupported_grant_type',
        `grant_type must be password or refresh_token, not "${grant ?? ''}"`,
      );
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

  return { get: handleGet, post: handlePost };
}

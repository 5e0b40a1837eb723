/**
 * The authentication dance of the Docker Registry token spec and of plain Basic auth. A request
 * goes out with whatever the client already knows (a cached token for its scope, or Basic
 * credentials once the registry asked for them); on a 401 the `WWW-Authenticate` challenge says
 * what to do: send Basic credentials, or fetch a Bearer token from the realm for the scopes the
 * request needs, cache it per scope until it expires, and try again once.
 */
import { ClientError } from './errors.js';
import type { Transport, TransportResponse } from './transport.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
  /** A bearer token to send as it is (Docker's `registrytoken`). */
  registryToken?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate`, which may hold several challenges: `Basic realm="x", Bearer realm="y",service="z"`. */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const pattern = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?/gy;
  let current: Challenge | undefined;
  while (pattern.lastIndex < header.length) {
    const match = pattern.exec(header);
    if (match === null || match[0].length === 0) break;
    const [, token, rawValue] = match;
    if (rawValue === undefined) {
      // A bare token starts a new challenge, unless it is a token68 (opaque credentials) of the current one.
      current = { scheme: token!.toLowerCase(), params: {} };
      challenges.push(current);
      continue;
    }
    if (!current) continue;
    const value = rawValue.startsWith('"') ? rawValue.slice(1, -1).replace(/\\(.)/g, '$1') : rawValue;
    current.params[token!.toLowerCase()] = value;
  }
  return challenges;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens are renewed this long before their stated expiry, so a request never carries a stale one. */
const EXPIRY_MARGIN_MS = 5_000;
/** The spec's default lifetime when the token server does not say. */
const DEFAULT_TOKEN_SECONDS = 60;

export class Authenticator {
  private basic = false;
  private bearer: { realm: string; service?: string } | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly transport: Transport,
    private readonly registry: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
  ) {}

  /** Who the credentials sign in as, when there are any: undefined means anonymous. */
  async signedIn(): Promise<{ user?: string } | undefined> {
    const credentials = await this.credentials();
    if (!credentials?.username && !credentials?.identityToken && !credentials?.registryToken) return undefined;
    return { user: credentials.username || undefined };
  }

  /** The Authorization header to send for a request needing `scopes`, when one is known already. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    if (this.bearer) {
      const key = scopeKey(scopes);
      const cached = this.tokens.get(key);
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      // The realm is known: fetch the token before the request instead of after a 401.
      const token = await this.fetchToken(scopes, []);
      return `Bearer ${token.token}`;
    }
    if (this.basic) return this.basicHeader(await this.credentials());
    return undefined;
  }

  /**
   * Learns from a 401. Returns true when retrying the request may now succeed (new credentials or
   * a fresh token), false when there is nothing new to send.
   */
  async challenge(header: string | undefined, scopes: string[], sent: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    const basic = challenges.find((challenge) => challenge.scheme === 'basic');
    if (bearer?.params.realm) {
      this.bearer = { realm: bearer.params.realm, service: bearer.params.service };
      const extra = (bearer.params.scope ?? '').split(' ').filter(Boolean);
      const key = scopeKey(scopes);
      this.tokens.delete(key);
      const token = await this.fetchToken(scopes, extra);
      return `Bearer ${token.token}` !== sent;
    }
    if (basic) {
      const credentials = await this.credentials();
      if (!credentials?.username) {
        throw new ClientError('auth', `${this.registry} requires a user name and password`, {
          status: 401,
          hint: `log in first: berth login ${this.registry}`,
        });
      }
      this.basic = true;
      return this.basicHeader(credentials) !== sent;
    }
    return false;
  }

  private basicHeader(credentials: Credentials | undefined): string | undefined {
    if (!credentials?.username) return undefined;
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
  }

  /** One token request per scope set at a time: concurrent requests share it. */
  private fetchToken(scopes: string[], extra: string[]): Promise<CachedToken> {
    const key = scopeKey(scopes);
    const running = this.pending.get(key);
    if (running) return running;
    const promise = this.requestToken(mergeScopes([...scopes, ...extra])).then(
      (token) => {
        this.tokens.set(key, token);
        this.pending.delete(key);
        return token;
      },
      (error: unknown) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, promise);
    return promise;
  }

  private async requestToken(scopes: string[]): Promise<CachedToken> {
    const { realm, service } = this.bearer!;
    const credentials = await this.credentials();
    if (credentials?.registryToken) return { token: credentials.registryToken, expiresAt: Number.POSITIVE_INFINITY };
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ClientError('auth', `${this.registry} named an invalid token realm "${realm}"`);
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    let response: TransportResponse;
    if (credentials?.identityToken) {
      // OAuth2 refresh-token grant (Distribution's token spec, spec-auth-oauth.md).
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        client_id: 'berth',
      });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      response = await this.transport.send({ method: 'POST', url, headers, body: form.toString(), idempotent: true });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      if (credentials?.username) {
        url.searchParams.set('account', credentials.username);
        headers.Authorization = this.basicHeader(credentials)!;
      }
      response = await this.transport.send({ method: 'GET', url, headers });
    }
    const text = await response.text(1024 * 1024);
    if (response.status === 401 || response.status === 403) {
      throw new ClientError(
        'auth',
        `the token service ${url.origin}${url.pathname} refused ${credentials?.username ? `the credentials of "${credentials.username}"` : 'anonymous access'} for ${this.registry} (HTTP ${response.status})`,
        {
          status: response.status,
          hint: credentials?.username
            ? `check the password, then log in again: berth login ${this.registry}`
            : `log in first: berth login ${this.registry}`,
        },
      );
    }
    if (response.status !== 200) {
      throw new ClientError(
        'auth',
        `the token service ${url.origin}${url.pathname} answered HTTP ${response.status}: ${text.slice(0, 200)}`,
        { status: response.status },
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new ClientError('auth', `the token service ${url.origin}${url.pathname} did not answer JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || !token)
      throw new ClientError('auth', `the token service ${url.origin}${url.pathname} sent no token`);
    const seconds =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
    return { token, expiresAt: start + seconds * 1000 - EXPIRY_MARGIN_MS };
  }
}

function scopeKey(scopes: string[]): string {
  return mergeScopes(scopes).join(' ');
}

/**
 * Merges scopes naming the same resource (`repository:a:pull` + `repository:a:push` →
 * `repository:a:pull,push`), sorted, so equal needs give equal cache keys.
 */
export function mergeScopes(scopes: string[]): string[] {
  const actions = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const last = scope.lastIndexOf(':');
    if (last === -1) continue;
    const resource = scope.slice(0, last);
    const set = actions.get(resource) ?? new Set<string>();
    for (const action of scope.slice(last + 1).split(',')) if (action) set.add(action);
    actions.set(resource, set);
  }
  return [...actions.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, set]) => `${resource}:${[...set].sort().join(',')}`);
}

/** The scopes of the token spec (spec-auth-scope.md). */
export const scopes = {
  pull: (repository: string) => `repository:${repository}:pull`,
  push: (repository: string) => `repository:${repository}:pull,push`,
  delete: (repository: string) => `repository:${repository}:delete`,
  catalog: () => 'registry:catalog:*',
};

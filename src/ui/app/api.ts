/**
 * The UI's one way to the registry: fetch on the page's own origin, with the registry's own auth.
 * With HTTP Basic every request carries the signed-in user's credentials; with Bearer tokens a
 * 401 challenge is answered as Docker clients answer it (a token for the challenge's scope from
 * the built-in token server, then the same request again). Credentials live in sessionStorage:
 * per tab, gone when it closes. Nothing here ever calls another origin.
 */

export interface Session {
  auth: 'none' | 'basic' | 'bearer';
  signIn: boolean;
  tokenPath?: string;
  service?: string;
  /** host[:port] as clients name the registry. */
  registry: string;
  secure: boolean;
  prefix: string;
  deleteEnabled: boolean;
  readOnly: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const CREDENTIALS_KEY = 'berth.credentials';
const USER_KEY = 'berth.user';

export { MANIFEST_ACCEPT } from '../../api/media-types';

const metaPrefix = document.querySelector<HTMLMetaElement>('meta[name="berth-api-prefix"]')?.content ?? '';

/** Paths as the registry serves them, below `http.prefix`. */
export function apiUrl(path: string): string {
  return `${metaPrefix}${path}`;
}

function basicValue(): string | undefined {
  const stored = sessionStorage.getItem(CREDENTIALS_KEY);
  return stored ? `Basic ${stored}` : undefined;
}

export function signedInUser(): string | undefined {
  return sessionStorage.getItem(USER_KEY) ?? undefined;
}

const tokens = new Map<string, string>();
/** The scope a path was last challenged for, so the next request sends its token at once. */
const scopes = new Map<string, string>();

function challengeParams(header: string): Record<string, string> | undefined {
  const match = /^Bearer\s+(.*)$/i.exec(header.trim());
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const part of match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    params[part[1]!] = part[2]!.replace(/\\(.)/g, '$1');
  return params;
}

async function fetchToken(params: Record<string, string>): Promise<string> {
  const realm = new URL(params.realm ?? '', location.href);
  // A realm on another origin belongs to an external token server: the UI never calls it.
  if (realm.origin !== location.origin)
    throw new ApiError(401, 'this registry signs in through another server, which the UI does not call');
  if (params.service) realm.searchParams.set('service', params.service);
  if (params.scope) for (const scope of params.scope.split(' ')) realm.searchParams.append('scope', scope);
  const authorization = basicValue();
  const response = await fetch(realm, { headers: authorization ? { Authorization: authorization } : {} });
  if (!response.ok) throw new ApiError(response.status, 'the token server refused the sign-in');
  const body = (await response.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new ApiError(500, 'the token server sent no token');
  return token;
}

/** One request to the registry, answering an auth challenge once. Throws ApiError on an error answer. */
export async function call(path: string, init: RequestInit = {}, session?: Session): Promise<Response> {
  const url = apiUrl(path);
  const key = `${init.method ?? 'GET'} ${path.split('?')[0]}`;
  const send = (authorization?: string) => {
    const headers = new Headers(init.headers);
    if (authorization) headers.set('Authorization', authorization);
    return fetch(url, { ...init, headers });
  };
  const scheme = session?.auth ?? 'none';
  const known = scopes.get(key);
  const cached = known !== undefined ? tokens.get(known) : undefined;
  let response = await send(scheme === 'basic' ? basicValue() : cached ? `Bearer ${cached}` : undefined);
  const challenge = response.status === 401 ? response.headers.get('WWW-Authenticate') : null;
  const params = challenge ? challengeParams(challenge) : undefined;
  if (params) {
    const scope = params.scope ?? '';
    const token = await fetchToken(params);
    tokens.set(scope, token);
    scopes.set(key, scope);
    response = await send(`Bearer ${token}`);
  }
  if (!response.ok && response.status !== 202) {
    let message = `${response.status} ${response.statusText}`;
    let code: string | undefined;
    try {
      const body = (await response.clone().json()) as { errors?: Array<{ code: string; message: string }> };
      if (body.errors?.[0]) ({ code, message } = body.errors[0]);
    } catch {
      // Not the JSON envelope: keep the status line.
    }
    throw new ApiError(response.status, message, code);
  }
  return response;
}

export async function json<T>(path: string, session?: Session, init?: RequestInit): Promise<T> {
  return (await call(path, init, session)).json() as Promise<T>;
}

export async function loadSession(): Promise<Session> {
  return json<Session>('/_berth/api/session');
}

/** Checks the credentials against the registry and keeps them for this tab. */
export async function signIn(session: Session, user: string, password: string): Promise<void> {
  const encoded = btoa(unescape(encodeURIComponent(`${user}:${password}`)));
  const headers = { Authorization: `Basic ${encoded}` };
  const probe =
    session.auth === 'bearer' && session.tokenPath
      ? `${session.tokenPath}?service=${encodeURIComponent(session.service ?? '')}`
      : apiUrl('/v2/');
  const response = await fetch(probe, { headers });
  if (response.status === 401) throw new ApiError(401, 'wrong user name or password');
  if (response.status === 429) throw new ApiError(429, 'too many failed sign-ins from this address; try again later');
  if (!response.ok) throw new ApiError(response.status, `sign-in failed (${response.status})`);
  sessionStorage.setItem(CREDENTIALS_KEY, encoded);
  sessionStorage.setItem(USER_KEY, user);
  tokens.clear();
  scopes.clear();
}

export function signOut(): void {
  sessionStorage.removeItem(CREDENTIALS_KEY);
  sessionStorage.removeItem(USER_KEY);
  tokens.clear();
  scopes.clear();
}

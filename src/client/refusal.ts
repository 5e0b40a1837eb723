/**
 * What to tell someone the registry refused (401, 403): to log in, to check their password, or
 * that they are signed in and lack a right, which logging in again would not change. Which of
 * these it is depends on whether credentials went with the request and on what the registry
 * said: `403 DENIED`, or a Bearer challenge with `error="insufficient_scope"` (the token server
 * granted fewer actions than the request needs), means the caller is known and not allowed.
 */
import { parseChallenges } from './auth.js';
import type { RegistryErrorEntry } from './errors.js';

export interface Refusal {
  /** `host[:port]` of the registry, for the `berth login` line. */
  registry: string;
  status: number;
  /** The refusal's `WWW-Authenticate` header. */
  challenge: string | undefined;
  /** The registry's `{"errors":[…]}` entries. */
  errors: RegistryErrorEntry[];
  /** Whether the refused request carried credentials (Basic, or a token got with them). */
  credentialsSent: boolean;
  /** Who the saved credentials sign in as; undefined when there are none (anonymous). */
  signedIn: { user?: string } | undefined;
  /** The scopes the request needed (`repository:team/app:pull,push`). */
  scopes: string[];
}

interface Needed {
  type: string;
  name: string;
  actions: string[];
}

/** Distribution's detail of UNAUTHORIZED and DENIED: `[{"Type","Name","Action"}]`. */
function neededFromDetail(errors: RegistryErrorEntry[]): Needed[] {
  const needed: Needed[] = [];
  for (const entry of errors) {
    if (!Array.isArray(entry.detail)) continue;
    for (const item of entry.detail as unknown[]) {
      const { Type, Name, Action } = (item ?? {}) as Record<string, unknown>;
      if (typeof Type === 'string' && typeof Name === 'string' && typeof Action === 'string')
        needed.push({ type: Type, name: Name, actions: [Action] });
    }
  }
  return needed;
}

/** Scopes as the token spec writes them: `type:name:action[,action]` (a name may hold colons). */
function neededFromScopes(scopes: string[]): Needed[] {
  return scopes.flatMap((scope) => {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first === -1 || last === first) return [];
    return [
      { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') },
    ];
  });
}

function describeNeeded(needed: Needed[]): string {
  const byResource = new Map<string, { type: string; name: string; actions: Set<string> }>();
  for (const each of needed) {
    const key = `${each.type}:${each.name}`;
    const entry = byResource.get(key) ?? { type: each.type, name: each.name, actions: new Set<string>() };
    for (const action of each.actions) if (action) entry.actions.add(action);
    byResource.set(key, entry);
  }
  const parts = [...byResource.values()].map(({ type, name, actions }) => {
    if (type === 'registry' && name === 'catalog') return 'list the catalog';
    const what = [...actions].join(' and ');
    return `${what} on ${type === 'repository' ? name : `${type} ${name}`}`;
  });
  return parts.length > 0 ? parts.join(', ') : 'do this';
}

export function refusalHint(refusal: Refusal): string {
  const login = `berth login ${refusal.registry}`;
  const bearer = parseChallenges(refusal.challenge ?? '').find((challenge) => challenge.scheme === 'bearer');
  const lacksRight = refusal.status === 403 || bearer?.params.error === 'insufficient_scope';
  if (lacksRight) {
    // What was refused, most precise first: the registry's detail, its challenge, the request.
    let needed = neededFromDetail(refusal.errors);
    if (needed.length === 0 && bearer?.params.scope) needed = neededFromScopes(bearer.params.scope.split(' '));
    if (needed.length === 0) needed = neededFromScopes(refusal.scopes);
    const right = describeNeeded(needed);
    if (refusal.signedIn && refusal.credentialsSent) {
      const who = refusal.signedIn.user ? `signed in as "${refusal.signedIn.user}"` : 'signed in';
      return `you are ${who}, without the right to ${right}; logging in again will not change that: ask the registry's administrator for the right`;
    }
    return `log in with \`${login}\`: anonymous access may not ${right}`;
  }
  if (refusal.signedIn && refusal.credentialsSent) {
    const whose = refusal.signedIn.user ? `the credentials of "${refusal.signedIn.user}"` : 'the saved credentials';
    return `the registry refused ${whose}: check the password, then log in again with \`${login}\``;
  }
  return `log in with \`${login}\` (or \`docker login\`), or check the credentials in your Docker config`;
}

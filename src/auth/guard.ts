/**
 * The request guard: runs before every request, works out what it needs (access.ts), checks
 * the caller's credentials against it, and either lets it through (recording who the caller is,
 * for the catalog) or refuses it with the spec's JSON error and a challenge:
 *   - no or bad credentials: 401 UNAUTHORIZED with `WWW-Authenticate` naming the exact scope;
 *   - a valid token that lacks the scope: 401 with `error="insufficient_scope"`;
 *   - a signed-in Basic user the rules deny: 403 DENIED (new credentials would not help).
 * It reads the request only through the request state (src/request/state.ts): the route parsed
 * once, the origin, and it records the caller there.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError } from '../api/errors.js';
import { originOf } from '../request/client.js';
import { requirementFor, type Requirement } from './access.js';
import { basicCredentials, bearerToken } from './basic.js';
import { basicChallenge, bearerChallenge, type BearerError } from './challenge.js';
import type { Identity } from './rules.js';
import { formatScope, grants, REPOSITORY, type ResourceAccess } from './scope.js';
import type { AuthSetup, BasicScheme, BearerScheme } from './settings.js';
import { TokenError, type VerifiedToken } from './token/verify.js';

/** Distribution's error detail: one entry per needed action. */
function detail(needed: ResourceAccess[]): Array<{ Type: string; Name: string; Action: string }> {
  return needed.flatMap((access) =>
    access.actions.map((action) => ({ Type: access.type, Name: access.name, Action: action })),
  );
}

function neededAccess(requirement: Requirement): ResourceAccess[] {
  return requirement.kind === 'access' ? requirement.access : [];
}

export function createGuard(setup: AuthSetup, log: Logger) {
  const scheme = setup.scheme!;

  function realm(request: FastifyRequest, bearer: BearerScheme): string {
    if (bearer.realm) return bearer.realm;
    const origin = originOf(request.berth.origin, bearer.realmScheme ? undefined : setup.host, bearer.realmScheme);
    return `${origin}${bearer.realmPath}`;
  }

  function rememberCaller(request: FastifyRequest, identity: Identity): void {
    const policy = setup.policy;
    request.berth.caller = {
      user: identity.user,
      groups: identity.user ? (policy?.groupsOf(identity.user) ?? []) : [],
      mayPull: policy ? (name) => policy.permits(identity, { type: REPOSITORY, name, actions: ['pull'] }) : undefined,
      actionsOn: policy ? (name) => policy.allowed(identity, REPOSITORY, name) : undefined,
    };
  }

  async function checkBearer(request: FastifyRequest, bearer: BearerScheme, requirement: Requirement): Promise<void> {
    const needed = neededAccess(requirement);
    const refuse = (message: string, error?: BearerError) =>
      new RegistryError('UNAUTHORIZED', message, detail(needed), {
        headers: { 'WWW-Authenticate': bearerChallenge(realm(request, bearer), bearer.service, needed, error) },
      });
    const token = bearerToken(request.headers.authorization);
    if (!token) throw refuse('authentication required');
    let verified: VerifiedToken;
    try {
      verified = await bearer.verifier.verify(token);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      log.debug({ reason: error.message }, 'refused a bearer token');
      throw refuse(error.message, 'invalid_token');
    }
    const missing = needed.filter((access) => !grants(verified.access, access));
    if (missing.length > 0)
      throw refuse(`token does not grant ${missing.map(formatScope).join(' ')}`, 'insufficient_scope');
    rememberCaller(request, { user: verified.subject || undefined });
  }

  async function checkBasic(request: FastifyRequest, basic: BasicScheme, requirement: Requirement): Promise<void> {
    const needed = neededAccess(requirement);
    const challenge = (message: string) =>
      new RegistryError('UNAUTHORIZED', message, detail(needed), {
        headers: { 'WWW-Authenticate': basicChallenge(basic.realm) },
      });
    const credentials = basicCredentials(request.headers.authorization);
    if (credentials === 'malformed') throw challenge('malformed Basic credentials');
    const identity: Identity = {};
    if (credentials) {
      if (!(await setup.users!.verify(credentials.user, credentials.password))) {
        await request.berth.loginFailed(credentials.user);
        throw challenge('invalid username or password');
      }
      identity.user = credentials.user;
    }
    const policy = setup.policy!;
    if (requirement.kind === 'authenticated' && identity.user === undefined && !policy.anonymousHasAccess()) {
      throw challenge('authentication required');
    }
    const denied = needed.filter((access) => !policy.permits(identity, access));
    if (denied.length > 0) {
      if (identity.user === undefined) throw challenge('authentication required');
      throw new RegistryError(
        'DENIED',
        `user "${identity.user}" may not ${denied.map(formatScope).join(' ')}`,
        detail(denied),
      );
    }
    rememberCaller(request, identity);
  }

  return async function guard(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const { route, target, preflight } = request.berth;
    if (preflight) return;
    const requirement = requirementFor(request.method, route, target.query);
    if (requirement.kind === 'open') return;
    if (scheme.kind === 'bearer') await checkBearer(request, scheme, requirement);
    else await checkBasic(request, scheme, requirement);
  };
}

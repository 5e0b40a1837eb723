/**
 * From configuration to a working setup, checked at start-up: which scheme guards the API
 * (none, HTTP Basic or Bearer tokens), who the users are, what the rules allow, whether Berth
 * serves its own token server and with which key, and which keys its registry trusts.
 *
 *   no `auth`, no `berth.auth.htpasswd`       → auth off (the default)
 *   `auth.htpasswd`                           → HTTP Basic against the file
 *   `auth.token` with realm + rootcertbundle  → Bearer tokens from an external token server
 *   `auth.token` without realm                → Bearer tokens from Berth's own token server
 *   only `berth.auth.htpasswd`                → the same: the one-setting switch
 *
 * With both `auth.htpasswd` and `auth.token`, the registry asks for tokens and the htpasswd file
 * is the token server's user list (Distribution allows one provider; Berth reads the pair so).
 */
import type { X509Certificate, KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { AuthConfig, Config } from '../config/schema.js';
import { HtpasswdError } from './htpasswd/file.js';
import { PasswordChecks } from './htpasswd/password-checks.js';
import { HtpasswdUsers } from './htpasswd/users.js';
import { AccessPolicy, DEFAULT_RULES, RuleError, type AccessRuleConfig } from './rules.js';
import { ensureGeneratedKey, generatedKeyFolder, KeyError, loadSigningKey, type SigningKey } from './token/keys.js';
import { TokenIssuer } from './token/issue.js';
import { readJwks, readRootBundle, TokenError, TokenVerifier, VERIFY_ALGORITHMS } from './token/verify.js';

export const DEFAULT_SERVICE = 'berth';
export const DEFAULT_ISSUER = 'berth';

export interface BasicScheme {
  kind: 'basic';
  realm: string;
}

export interface BearerScheme {
  kind: 'bearer';
  /** Fixed realm, or undefined to derive it per request (built-in token server, autoredirect). */
  realm?: string;
  /** Path appended to the request's origin when the realm is derived. */
  realmPath: string;
  /** Scheme of a derived realm when no proxy says otherwise (Distribution's autoredirect uses https). */
  realmScheme?: string;
  service: string;
  verifier: TokenVerifier;
}

export interface TokenServerSetup {
  path: string;
  issuer: TokenIssuer;
  /** Audiences it issues for; the first is the default when a request names none. */
  services: string[];
  key: SigningKey;
  basicRealm: string;
}

export interface AuthSetup {
  scheme: BasicScheme | BearerScheme | undefined;
  users?: HtpasswdUsers;
  /** Rules, when Berth knows them (always with htpasswd users; with an external issuer only if configured). */
  policy?: AccessPolicy;
  tokenServer?: TokenServerSetup;
  /** `http.host`, for deriving URLs. */
  host?: string;
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function acceptedAlgorithms(listed: string[] | undefined, log: Logger): string[] | undefined {
  if (!listed || listed.length === 0) return undefined;
  const accepted: string[] = [];
  for (const alg of listed) {
    if (/^HS\d+$/i.test(alg)) {
      log.warn(`auth.token.signingalgorithms: ${alg} is ignored; Berth never accepts HMAC-signed tokens`);
    } else if ((VERIFY_ALGORITHMS as readonly string[]).includes(alg)) {
      accepted.push(alg);
    } else {
      fail(`auth.token.signingalgorithms: "${alg}" is not one of ${VERIFY_ALGORITHMS.join(', ')}`);
    }
  }
  if (accepted.length === 0) fail('auth.token.signingalgorithms lists no algorithm Berth accepts');
  return accepted;
}

/** Builds the setup, or returns undefined when auth is off. Throws ConfigError on any problem. */
export function createAuthSetup(config: Config, log: Logger): AuthSetup | undefined {
  try {
    return resolve(config, log);
  } catch (error) {
    if (
      error instanceof HtpasswdError ||
      error instanceof RuleError ||
      error instanceof KeyError ||
      error instanceof TokenError
    ) {
      throw new ConfigError(error.message);
    }
    throw error;
  }
}

function resolve(config: Config, log: Logger): AuthSetup | undefined {
  const auth = config.auth;
  const own = config.berth.auth;
  const serverConfig = own?.tokenserver;
  const usersPath = own?.htpasswd ?? auth?.htpasswd?.path;
  const oneSetting = !auth?.htpasswd && auth?.token === undefined && own?.htpasswd !== undefined;
  const bearer = auth?.token !== undefined || oneSetting;
  const basic = !bearer && auth?.htpasswd !== undefined;
  const serveTokens = serverConfig?.enabled ?? (bearer && !auth?.token?.realm);

  if (!bearer && !basic && !serveTokens) {
    if (own?.rules)
      log.warn(
        'berth.auth.rules has no effect: auth is off (configure auth.htpasswd, auth.token or berth.auth.htpasswd)',
      );
    return undefined;
  }

  const users = usersPath ? new HtpasswdUsers(usersPath, log, new PasswordChecks(own?.passwordchecks)) : undefined;
  if (serveTokens && !users) {
    fail(
      'Berth serves its own token server here (auth.token.realm is not set), which needs users: set auth.htpasswd.path or berth.auth.htpasswd to an htpasswd file',
    );
  }

  const groups = own?.groups ?? {};
  let policy: AccessPolicy | undefined;
  if (own?.rules) {
    policy = new AccessPolicy(own.rules as AccessRuleConfig[], groups);
  } else if (users) {
    policy = new AccessPolicy(DEFAULT_RULES, { admins: [], ...groups });
  }

  const service = auth?.token?.service ?? DEFAULT_SERVICE;
  const issuerName = auth?.token?.issuer ?? serverConfig?.issuer ?? DEFAULT_ISSUER;
  const basicRealm = auth?.htpasswd?.realm ?? 'Berth';
  const setup: AuthSetup = { scheme: undefined, users, policy, host: config.http.host };

  if (serveTokens) {
    let key: SigningKey;
    if (serverConfig?.key || serverConfig?.certificate) {
      if (!serverConfig.key || !serverConfig.certificate)
        fail('berth.auth.tokenserver: give both key and certificate, or neither (Berth then creates them)');
      key = loadSigningKey(serverConfig.key, serverConfig.certificate);
    } else {
      const root = config.storage.filesystem?.rootdirectory;
      if (!root) fail('berth.auth.tokenserver needs key and certificate when storage has no filesystem rootdirectory');
      const generated = ensureGeneratedKey(generatedKeyFolder(root));
      key = generated.key;
      if (generated.created)
        log.info({ certificate: key.certificatePath }, 'created the token signing key and certificate');
    }
    const expiresIn = Math.max(60, Math.round(serverConfig?.expiration ?? 300_000) / 1000);
    const refreshLifetime = Math.round((serverConfig?.refreshexpiration ?? 0) / 1000);
    const services = [...new Set([service, ...(serverConfig?.services ?? [])])];
    setup.tokenServer = {
      path: serverConfig?.path ?? '/auth/token',
      issuer: new TokenIssuer(key, issuerName, Math.floor(expiresIn), refreshLifetime),
      services,
      key,
      basicRealm,
    };
    log.info(
      { path: setup.tokenServer.path, issuer: issuerName, services, certificate: key.certificatePath },
      'serving the token server (give its certificate to other registries as auth.token.rootcertbundle)',
    );
  }

  if (basic) {
    setup.scheme = { kind: 'basic', realm: basicRealm };
  } else if (bearer) {
    const token: Partial<NonNullable<AuthConfig['token']>> = auth?.token ?? {};
    const roots: X509Certificate[] = token.rootcertbundle ? readRootBundle(token.rootcertbundle) : [];
    if (setup.tokenServer) roots.push(...setup.tokenServer.key.certificates);
    const keys: Map<string, KeyObject> = token.jwks ? readJwks(token.jwks) : new Map();
    if (roots.length === 0 && keys.size === 0) {
      fail(
        "auth.token needs rootcertbundle or jwks to trust an external token server (or leave auth.token.realm unset to use Berth's own)",
      );
    }
    const verifier = TokenVerifier.create({
      issuer: issuerName,
      service,
      roots,
      keys,
      algorithms: acceptedAlgorithms(token.signingalgorithms, log),
    });
    const derived = !token.realm;
    setup.scheme = {
      kind: 'bearer',
      realm: derived ? undefined : token.realm,
      realmPath: token.autoredirect
        ? (token.autoredirectpath ?? '/auth/token/')
        : (setup.tokenServer?.path ?? '/auth/token'),
      realmScheme: token.autoredirect ? 'https' : undefined,
      service,
      verifier,
    };
    if (token.autoredirect) setup.scheme.realm = undefined;
    if (derived && !setup.tokenServer && !token.autoredirect)
      fail('auth.token.realm is required when berth.auth.tokenserver.enabled is false');
  }
  return setup;
}

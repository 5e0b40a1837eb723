/**
 * Bearer token verification as Distribution does it. A token is a JWS-signed JWT whose key is
 * found, in this order, from:
 *   - `x5c`: a certificate chain that must lead to a certificate of `rootcertbundle`;
 *   - `jwk`: an embedded public key, accepted only if it is one of the trusted keys;
 *   - `kid`: a trusted key's ID, the keys of `rootcertbundle` (libtrust ID or JWK thumbprint)
 *     and of the `jwks` file (their `kid`, or thumbprint).
 * Then `iss` must equal the issuer, `aud` contain the service, and `exp`/`nbf` hold with 60
 * seconds of leeway (Distribution's). `alg: none` and HMAC algorithms are always refused: a
 * shared secret would let any holder mint tokens.
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK, JWTHeaderParameters } from 'jose';
// jose is loaded on the first token verified: a registry without token auth never loads it.
type Jose = typeof import('jose');
let jose: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));
import type { ResourceAccess } from '../scope.js';
import { jwkThumbprint, libtrustKeyId, readCertificates } from './keys.js';

/** Asymmetric algorithms Berth verifies (Distribution's list without the HMAC ones). */
export const VERIFY_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
] as const;
export const LEEWAY_SECONDS = 60;
const MAX_CHAIN = 10;

export class TokenError extends Error {}

export interface VerifiedToken {
  subject: string;
  issuer: string;
  access: ResourceAccess[];
}

export interface VerifierOptions {
  issuer: string;
  service: string;
  roots: X509Certificate[];
  /** Trusted keys by ID (from a JWKS file, or thumbprints). */
  keys?: Map<string, KeyObject>;
  algorithms?: string[];
}

/** Reads a JWKS file: public keys by their `kid` and thumbprint; symmetric keys are refused. */
export function readJwks(path: string): Map<string, KeyObject> {
  let set: { keys?: JWK[] };
  try {
    set = JSON.parse(readFileSync(path, 'utf8')) as { keys?: JWK[] };
  } catch (error) {
    throw new TokenError(`auth.token.jwks ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(set.keys)) throw new TokenError(`auth.token.jwks ${path}: expected {"keys": [...]}`);
  const keys = new Map<string, KeyObject>();
  for (const [index, jwk] of set.keys.entries()) {
    if (jwk.kty === 'oct')
      throw new TokenError(
        `auth.token.jwks ${path}: key ${index + 1} is a shared secret (kty "oct"); HMAC tokens are not accepted`,
      );
    const { d: _private, ...publicPart } = jwk;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: publicPart as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (error) {
      throw new TokenError(`auth.token.jwks ${path}: key ${index + 1}: ${(error as Error).message}`);
    }
    if (jwk.kid) keys.set(jwk.kid, key);
    keys.set(jwkThumbprint(key), key);
  }
  return keys;
}

export function readRootBundle(path: string): X509Certificate[] {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TokenError(`auth.token.rootcertbundle ${path}: ${(error as Error).message}`);
  }
  const certificates = readCertificates(pem, path);
  if (certificates.length === 0) throw new TokenError(`auth.token.rootcertbundle ${path} holds no PEM certificate`);
  return certificates;
}

function when(seconds: unknown): string {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : String(seconds);
}

/** `exp` of a token that has just been verified (so it is there and a number). */
function claimsExpiry(token: string): number {
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
  return typeof claims.exp === 'number' ? claims.exp : 0;
}

function parseAccess(claim: unknown): ResourceAccess[] {
  if (!Array.isArray(claim)) return [];
  const access: ResourceAccess[] = [];
  for (const entry of claim as Array<Record<string, unknown>>) {
    if (typeof entry?.type !== 'string' || typeof entry.name !== 'string' || !Array.isArray(entry.actions)) continue;
    access.push({
      type: entry.type,
      name: entry.name,
      actions: entry.actions.filter((action): action is string => typeof action === 'string'),
    });
  }
  return access;
}

/** How long a verified token is remembered (never past its own expiry). */
const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 1000;

export class TokenVerifier {
  private readonly keys: Map<string, KeyObject>;
  private readonly algorithms: string[];
  /**
   * Clients send the same token with every request of a push or pull; verifying the signature
   * and certificate chain each time costs about a millisecond and a half. The full token string
   * (signature included) is the key, so only that exact token is ever found.
   */
  private readonly remembered = new Map<string, { verified: VerifiedToken; until: number }>();

  private constructor(
    private readonly options: VerifierOptions,
    keys: Map<string, KeyObject>,
  ) {
    this.keys = keys;
    this.algorithms = options.algorithms ?? [...VERIFY_ALGORITHMS];
  }

  static create(options: VerifierOptions): TokenVerifier {
    const keys = new Map(options.keys ?? []);
    for (const root of options.roots) {
      keys.set(libtrustKeyId(root.publicKey), root.publicKey);
      keys.set(jwkThumbprint(root.publicKey), root.publicKey);
    }
    return new TokenVerifier(options, keys);
  }

  /** The certificate chain of `x5c`, checked up to a root; returns the leaf's key. */
  private verifyChain(x5c: unknown): KeyObject {
    if (
      !Array.isArray(x5c) ||
      x5c.length === 0 ||
      x5c.length > MAX_CHAIN ||
      !x5c.every((entry) => typeof entry === 'string')
    ) {
      throw new TokenError('x5c header is not a list of certificates');
    }
    const chain = x5c.map((entry: string, index) => {
      try {
        return new X509Certificate(Buffer.from(entry, 'base64'));
      } catch {
        throw new TokenError(`x5c certificate ${index + 1} cannot be parsed`);
      }
    });
    const now = Date.now();
    const valid = (certificate: X509Certificate) =>
      Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
    let current = chain[0]!;
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      if (!valid(current))
        throw new TokenError(
          `certificate "${current.subject}" in x5c is not valid now (${current.validFrom} to ${current.validTo})`,
        );
      if (this.options.roots.some((root) => root.raw.equals(current.raw))) return chain[0]!.publicKey;
      const root = this.options.roots.find(
        (candidate) => current.checkIssued(candidate) && current.verify(candidate.publicKey),
      );
      if (root) {
        if (!valid(root)) throw new TokenError(`root certificate "${root.subject}" is not valid now`);
        return chain[0]!.publicKey;
      }
      const next = chain.find(
        (candidate) =>
          candidate !== current &&
          candidate.ca &&
          current.checkIssued(candidate) &&
          current.verify(candidate.publicKey),
      );
      if (!next) break;
      current = next;
    }
    throw new TokenError('token certificate chain (x5c) does not lead to a certificate of auth.token.rootcertbundle');
  }

  private async signingKey(header: JWTHeaderParameters): Promise<KeyObject> {
    if (header.x5c !== undefined) return this.verifyChain(header.x5c);
    if (header.jwk !== undefined) {
      let key: KeyObject;
      try {
        key = createPublicKey({ key: header.jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      } catch {
        throw new TokenError('jwk header is not a public key');
      }
      const trusted = this.keys.get(jwkThumbprint(key));
      if (!trusted) throw new TokenError('token is signed by an embedded key (jwk) that is not trusted');
      return trusted;
    }
    if (header.kid !== undefined) {
      const key = this.keys.get(header.kid);
      if (!key) throw new TokenError(`token is signed by an unknown key (kid "${header.kid}")`);
      return key;
    }
    throw new TokenError('token names no signing key (x5c, jwk or kid)');
  }

  async verify(token: string): Promise<VerifiedToken> {
    const now = Date.now();
    const known = this.remembered.get(token);
    if (known && known.until >= now) return known.verified;
    const verified = await this.verifyFully(token);
    const expiry = (claimsExpiry(token) + LEEWAY_SECONDS) * 1000;
    if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
    this.remembered.set(token, { verified, until: Math.min(expiry, now + REMEMBER_MS) });
    return verified;
  }

  private async verifyFully(token: string): Promise<VerifiedToken> {
    const { decodeProtectedHeader, errors, jwtVerify } = await loadJose();
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError('malformed token');
    }
    const alg = String(header.alg);
    if (alg.toLowerCase() === 'none') throw new TokenError('unsigned tokens (alg "none") are refused');
    if (/^HS\d+$/i.test(alg))
      throw new TokenError(
        `HMAC-signed tokens (alg "${alg}") are refused: tokens must be signed with a certificate's or trusted key's private key`,
      );
    if (!this.algorithms.includes(alg)) throw new TokenError(`token signing algorithm "${alg}" is not accepted`);
    try {
      const { payload } = await jwtVerify(token, (protectedHeader) => this.signingKey(protectedHeader), {
        issuer: this.options.issuer,
        audience: this.options.service,
        algorithms: this.algorithms,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ['exp'],
      });
      return {
        subject: typeof payload.sub === 'string' ? payload.sub : '',
        issuer: String(payload.iss),
        access: parseAccess(payload.access),
      };
    } catch (error) {
      throw this.explain(error, errors);
    }
  }

  private explain(error: unknown, joseErrors: Jose['errors']): TokenError {
    if (error instanceof TokenError) return error;
    if (error instanceof joseErrors.JWTExpired) return new TokenError(`token expired at ${when(error.payload.exp)}`);
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      switch (error.claim) {
        case 'nbf':
          return new TokenError(`token is not valid before ${when(error.payload.nbf)}`);
        case 'iat':
          return new TokenError('token is issued in the future');
        case 'aud':
          return new TokenError(`token audience (aud) does not include the service "${this.options.service}"`);
        case 'iss':
          return new TokenError(`token issuer (iss) is not "${this.options.issuer}"`);
        case 'exp':
          return new TokenError('token has no expiry (exp)');
        default:
          return new TokenError(`token claim ${error.claim} is invalid: ${error.message}`);
      }
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed)
      return new TokenError('token signature does not verify (tampered, or signed by another key)');
    if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError('token signing algorithm is not accepted');
    if (error instanceof joseErrors.JOSEError) return new TokenError(`invalid token: ${error.message}`);
    return new TokenError(`invalid token: ${(error as Error)?.message ?? String(error)}`);
  }
}

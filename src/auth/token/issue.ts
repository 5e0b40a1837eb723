/**
 * Minting tokens. Access tokens are the JWTs of Distribution's token specification, signed with
 * the signing key and carrying its certificate chain (`x5c`, which Distribution 2.8 and 3 both
 * verify against `rootcertbundle`) and its libtrust `kid`.
 *
 * Refresh tokens are opaque to clients and deliberately not JWTs: an HMAC-sealed record of
 * subject, service and the user's current htpasswd entry, keyed by a secret derived from the
 * signing key. No registry can mistake one for an access token, and changing the user's
 * password or removing the user revokes every refresh token issued before.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ResourceAccess } from '../scope.js';
import type { SigningKey } from './keys.js';

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export interface RefreshRecord {
  subject: string;
  service: string;
  fingerprint: string;
}

const REFRESH_PREFIX = 'brt';

export class TokenIssuer {
  private readonly refreshKey: Buffer;

  constructor(
    private readonly key: SigningKey,
    readonly issuer: string,
    private readonly expiresInSeconds: number,
    private readonly refreshLifetimeSeconds: number,
  ) {
    this.refreshKey = createHash('sha256')
      .update('berth refresh tokens\0')
      .update(key.privateKey.export({ type: 'pkcs8', format: 'der' }))
      .digest();
  }

  async accessToken(subject: string, audience: string, access: ResourceAccess[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    // Loaded on the first token issued: a registry that issues none never loads jose.
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ access: access.map(({ type, name, actions }) => ({ type, name, actions })) })
      .setProtectedHeader({ alg: this.key.alg, typ: 'JWT', kid: this.key.kid, x5c: this.key.x5c })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(audience) // a string: Distribution 2.x reads `aud` as one
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.expiresInSeconds)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.key.privateKey);
    return { token, expiresIn: this.expiresInSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.refreshKey).update(payload).digest('base64url');
  }

  refreshToken(record: RefreshRecord): string {
    const now = Math.floor(Date.now() / 1000);
    const body = {
      s: record.subject,
      a: record.service,
      f: record.fingerprint,
      i: now,
      ...(this.refreshLifetimeSeconds > 0 ? { e: now + this.refreshLifetimeSeconds } : {}),
    };
    const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
    return `${REFRESH_PREFIX}~${payload}~${this.mac(payload)}`;
  }

  /** The record a refresh token carries, or undefined if it is forged, damaged or expired. */
  readRefreshToken(token: string): RefreshRecord | undefined {
    const [prefix, payload, mac, ...rest] = token.split('~');
    if (prefix !== REFRESH_PREFIX || !payload || !mac || rest.length > 0) return undefined;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
        s: string;
        a: string;
        f: string;
        e?: number;
      };
      if (body.e !== undefined && body.e < Date.now() / 1000) return undefined;
      return { subject: body.s, service: body.a, fingerprint: body.f };
    } catch {
      return undefined;
    }
  }
}

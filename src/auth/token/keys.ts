/**
 * The token signing key and its certificate chain: loaded from the configured PEM files, or
 * created on first start in Berth's data folder (`<rootdirectory>/berth/auth/`, beside the
 * Distribution layout and outside anything the API serves) and reused on every later start.
 * Also the two key identifiers registries look tokens' keys up by: libtrust's (Distribution 2.x)
 * and the RFC 7638 JWK thumbprint (Distribution 3).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedCertificate } from './x509.js';

export class KeyError extends Error {}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** JWS algorithm for this key: ES256/384/512 for EC, RS256 for RSA. */
  alg: string;
  /** The `x5c` header: base64 DER certificates, the key's own first. */
  x5c: string[];
  /** libtrust key ID, the `kid` Distribution 2.x looks trusted keys up by. */
  kid: string;
  /** PEM file holding the certificate: what another registry puts in `rootcertbundle`. */
  certificatePath: string;
  certificates: X509Certificate[];
}

const GENERATED_KEY = 'token-signing.key';
const GENERATED_CERT = 'token-signing.crt';
const CERT_YEARS = 10;

/** Where a data folder keeps the generated key and certificate. */
export function generatedKeyFolder(rootdirectory: string): string {
  return join(rootdirectory, 'berth', 'auth');
}

/** Splits a PEM bundle into its certificates (other blocks are skipped). */
export function readCertificates(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new KeyError(`${source}: certificate ${index + 1} cannot be parsed: ${(error as Error).message}`);
    }
  });
}

/** JWS algorithm for signing with a key. */
export function algorithmFor(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new KeyError(
    `token signing keys must be EC (P-256, P-384, P-521) or RSA, not ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
  );
}

/**
 * libtrust's key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
 * padding, in 12 groups of 4 joined by ":" (for example "PYYO:TEWU:…:Z7Q6").
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const digest = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bitsHeld = 0;
  let value = 0;
  let text = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bitsHeld += 8;
    while (bitsHeld >= 5) {
      text += alphabet[(value >>> (bitsHeld - 5)) & 31];
      bitsHeld -= 5;
    }
    value &= (1 << bitsHeld) - 1;
  }
  return text.match(/.{4}/g)!.join(':');
}

/** The members RFC 7638 hashes, per key type, in the lexicographic order it requires. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/** RFC 7638 thumbprint (SHA-256) of a public key, the `kid` Distribution 3 derives from `rootcertbundle`. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''];
  if (!members) throw new KeyError(`no thumbprint for key type ${jwk.kty}`);
  const canonical = `{${members.map((member) => `"${member}":"${jwk[member]}"`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/** Loads a configured key and its certificate (chain); the first certificate must hold the key. */
export function loadSigningKey(keyPath: string, certificatePath: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(keyPath));
  } catch (error) {
    throw new KeyError(`token signing key ${keyPath}: ${(error as Error).message}`);
  }
  let pem: string;
  try {
    pem = readFileSync(certificatePath, 'utf8');
  } catch (error) {
    throw new KeyError(`token signing certificate ${certificatePath}: ${(error as Error).message}`);
  }
  const certificates = readCertificates(pem, certificatePath);
  if (certificates.length === 0) throw new KeyError(`${certificatePath} holds no PEM certificate`);
  const publicKey = createPublicKey(privateKey);
  if (!sameKey(certificates[0]!.publicKey, publicKey)) {
    throw new KeyError(`${certificatePath}: the first certificate is not for the key in ${keyPath}`);
  }
  return {
    privateKey,
    publicKey,
    alg: algorithmFor(privateKey),
    x5c: certificates.map((certificate) => certificate.raw.toString('base64')),
    kid: libtrustKeyId(publicKey),
    certificatePath,
    certificates,
  };
}

/**
 * The key and certificate kept in the data folder, created if absent: an EC P-256 key (ES256,
 * which Distribution 2.8 and 3 both verify) and a self-signed certificate valid ten years.
 */
export function ensureGeneratedKey(
  folder: string,
  commonName = 'Berth token signer',
): { key: SigningKey; created: boolean } {
  const keyPath = join(folder, GENERATED_KEY);
  const certificatePath = join(folder, GENERATED_CERT);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  let created = false;
  if (!existsSync(keyPath)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    try {
      writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if (!existsSync(certificatePath)) {
    const privateKey = createPrivateKey(readFileSync(keyPath));
    const now = Date.now();
    const pem = selfSignedCertificate({
      privateKey,
      publicKey: createPublicKey(privateKey),
      commonName,
      notBefore: new Date(now - 3_600_000), // an hour early, for clocks that lag
      notAfter: new Date(now + CERT_YEARS * 365 * 86_400_000),
    });
    writeFileSync(certificatePath, pem, { mode: 0o644 });
    created = true;
  }
  return { key: loadSigningKey(keyPath, certificatePath), created };
}

/**
 * Just enough DER to write one self-signed X.509 certificate for the token signing key: Node
 * parses certificates (crypto.X509Certificate) but cannot create them. The certificate is a CA
 * (so registries may put it in a `rootcertbundle`) that may also sign (tokens carry it in `x5c`).
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octets = (content: Buffer) => tlv(0x04, content);
const bits = (content: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), content);
const TRUE = tlv(0x01, Buffer.from([0xff]));

function integer(value: Buffer): Buffer {
  let bytes = value;
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  return tlv(0x02, (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let rest = arc >> 7; rest > 0; rest >>= 7) chunk.unshift((rest & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(date: Date): Buffer {
  const iso = `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`; // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

function name(commonName: string): Buffer {
  return sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [TRUE] : []), octets(value));
}

/** Signature algorithm identifier and digest for a key Berth can sign certificates with. */
function signatureAlgorithm(key: KeyObject): { identifier: Buffer; digest: string } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const byCurve: Record<string, [string, string]> = {
      prime256v1: ['1.2.840.10045.4.3.2', 'sha256'],
      secp384r1: ['1.2.840.10045.4.3.3', 'sha384'],
      secp521r1: ['1.2.840.10045.4.3.4', 'sha512'],
    };
    const entry = curve ? byCurve[curve] : undefined;
    if (entry) return { identifier: sequence(oid(entry[0])), digest: entry[1] };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { identifier: sequence(oid('1.2.840.113549.1.1.11'), tlv(0x05, Buffer.alloc(0))), digest: 'sha256' };
  }
  throw new Error(`cannot write a certificate for a ${key.asymmetricKeyType} key (use EC P-256/384/521 or RSA)`);
}

export interface CertificateOptions {
  /** The certified key. */
  publicKey: KeyObject;
  commonName: string;
  /** The signer's key and name: the certified key's own for a self-signed certificate. */
  issuerKey: KeyObject;
  issuerName: string;
  notBefore: Date;
  notAfter: Date;
  /** A CA may sign other certificates (default true). */
  ca?: boolean;
}

/** An X.509 v3 certificate in PEM. */
export function createCertificate(options: CertificateOptions): string {
  const { identifier, digest } = signatureAlgorithm(options.issuerKey);
  const spki = options.publicKey.export({ type: 'spki', format: 'der' });
  const subjectKeyId = createHash('sha1').update(spki).digest();
  const ca = options.ca ?? true;
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // version 3
    integer(randomBytes(16)),
    identifier,
    name(options.issuerName),
    sequence(time(options.notBefore), time(options.notAfter)),
    name(options.commonName),
    spki,
    tlv(
      0xa3,
      sequence(
        extension('2.5.29.19', true, ca ? sequence(TRUE) : sequence()), // basicConstraints
        // keyUsage: digitalSignature (+ keyCertSign for a CA)
        extension('2.5.29.15', true, ca ? bits(Buffer.from([0x84]), 2) : bits(Buffer.from([0x80]), 7)),
        extension('2.5.29.14', false, octets(subjectKeyId)), // subjectKeyIdentifier
      ),
    ),
  );
  const signature = sign(digest, tbs, options.issuerKey);
  const der = sequence(tbs, identifier, bits(signature));
  const base64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

export interface SelfSignedOptions {
  privateKey: KeyObject;
  publicKey: KeyObject;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A self-signed CA certificate for the key pair, in PEM. */
export function selfSignedCertificate(options: SelfSignedOptions): string {
  return createCertificate({ ...options, issuerKey: options.privateKey, issuerName: options.commonName });
}

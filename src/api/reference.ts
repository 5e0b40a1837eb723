/**
 * The grammar of repository names, tags and digests (OCI Distribution Spec, "Pulling manifests";
 * OCI Image Spec, "Digests"). Everything that reaches storage paths is checked here first.
 */

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_PATTERN = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Distribution refuses names longer than this (its `NameTotalLengthMax`). */
export const NAME_MAX_LENGTH = 255;

/** Digest algorithms Berth computes and verifies, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** The canonical `algorithm:hex` string. */
  value: string;
}

export function isValidName(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && NAME_PATTERN.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(DIGEST_ALGORITHMS, value);
}

export type DigestParse = { ok: true; digest: Digest } | { ok: false; reason: string };

/** Parses `algorithm:hex`, accepting only supported algorithms with well-formed lowercase hex. */
export function parseDigest(value: string): DigestParse {
  const match = DIGEST_PATTERN.exec(value);
  if (!match) return { ok: false, reason: `"${value}" is not a digest (algorithm:encoded)` };
  const algorithm = match[1]!;
  const hex = match[2]!;
  if (!isDigestAlgorithm(algorithm)) {
    return { ok: false, reason: `unsupported digest algorithm "${algorithm}" (supported: sha256, sha512)` };
  }
  const length = DIGEST_ALGORITHMS[algorithm];
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    return { ok: false, reason: `${algorithm} digest must be ${length} lowercase hex characters` };
  }
  return { ok: true, digest: { algorithm, hex, value: `${algorithm}:${hex}` } };
}

/** A manifest reference is a digest when it contains a colon, otherwise a tag. */
export function isDigestReference(reference: string): boolean {
  return reference.includes(':');
}

/**
 * What a stored manifest references, read leniently: garbage collection must keep what any
 * manifest in storage needs, including manifests Berth would refuse today (Docker schema 1 left
 * by an older registry, unknown media types, extra fields). Anything that looks like a
 * descriptor's digest is kept; nothing is validated beyond the digest's grammar.
 */
import { parseDigest } from '../../api/reference.js';

export interface References {
  /** Config, layers, schema 1 `fsLayers`, and `blobs` of the old OCI artifact manifest. */
  blobs: string[];
  /** Children of an index or manifest list. */
  manifests: string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function digestField(value: unknown, field = 'digest'): string | undefined {
  if (!isObject(value)) return undefined;
  const raw = value[field];
  if (typeof raw !== 'string') return undefined;
  const parsed = parseDigest(raw);
  return parsed.ok ? parsed.digest.value : undefined;
}

function digestsOf(list: unknown, field = 'digest'): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((entry) => digestField(entry, field)).filter((digest): digest is string => digest !== undefined);
}

/** The references of a manifest's bytes; bytes that are not a JSON object reference nothing. */
export function referencesOf(bytes: Buffer): References {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { blobs: [], manifests: [] };
  }
  if (!isObject(body)) return { blobs: [], manifests: [] };
  const blobs = [
    ...digestsOf([body.config]),
    ...digestsOf(body.layers),
    ...digestsOf(body.blobs),
    ...digestsOf(body.fsLayers, 'blobSum'),
  ];
  return { blobs: [...new Set(blobs)], manifests: [...new Set(digestsOf(body.manifests))] };
}

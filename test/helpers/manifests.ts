/**
 * Manifests beyond plain images, built offline: indexes (OCI and Docker), artifacts with the
 * empty config, referrers with a `subject`. Bytes are kept exactly as built, so a test can compare
 * what the registry serves with what it pushed.
 */
import { jsonBlob, OCI_INDEX, OCI_MANIFEST, sha256, type Blob, type Image } from './content.js';

export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_NONDISTRIBUTABLE_LAYER = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

/** The empty JSON object blob (`{}`) artifacts use as their config. */
export const EMPTY_CONFIG: Blob = jsonBlob({});

export interface Doc {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [field: string]: unknown;
}

export function doc(value: unknown, mediaType: string): Doc {
  const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return { bytes, digest: sha256(bytes), mediaType };
}

export function imageDoc(image: Image): Doc {
  return { bytes: image.manifest, digest: image.digest, mediaType: image.mediaType };
}

export function describe(target: Doc, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType: target.mediaType, digest: target.digest, size: target.bytes.length, ...extra };
}

export function blobDescriptor(blob: Blob, mediaType: string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: blob.digest, size: blob.content.length, ...extra };
}

export function makeIndex(
  children: Descriptor[],
  options: { mediaType?: string; extra?: Record<string, unknown> } = {},
): Doc {
  const mediaType = options.mediaType ?? OCI_INDEX;
  return doc({ schemaVersion: 2, mediaType, manifests: children, ...options.extra }, mediaType);
}

/**
 * An OCI artifact: an image manifest with `artifactType`, the empty config, and the given layers
 * (blobs the test must push), optionally naming a `subject`.
 */
export function makeArtifact(options: {
  artifactType?: string;
  subject?: Doc;
  layers?: Descriptor[];
  annotations?: Record<string, string>;
  config?: Descriptor;
}): Doc {
  const body: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_MANIFEST };
  if (options.artifactType) body.artifactType = options.artifactType;
  body.config = options.config ?? blobDescriptor(EMPTY_CONFIG, OCI_EMPTY);
  body.layers = options.layers ?? [blobDescriptor(EMPTY_CONFIG, OCI_EMPTY)];
  if (options.subject) body.subject = describe(options.subject);
  if (options.annotations) body.annotations = options.annotations;
  return doc(body, OCI_MANIFEST);
}

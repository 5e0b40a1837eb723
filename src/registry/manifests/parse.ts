/**
 * Parses and checks a pushed manifest's bytes: Docker v2 schema 2, Docker manifest list, OCI
 * image manifest and OCI image index (artifacts, `subject`, custom fields included). The bytes
 * themselves are never re-serialised: the digest is of exactly what the client sent.
 */
import { parseDigest, type Digest, type DigestAlgorithm } from '../../api/reference.js';
import { RegistryError } from '../../api/errors.js';
import {
  bareMediaType,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MediaType,
  SCHEMA1_TYPES,
} from '../../api/media-types.js';
import { digestOf } from '../digester.js';

export interface ParsedDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  digest: Digest;
  bytes: Buffer;
  config?: ParsedDescriptor;
  /** Layers of an image manifest. */
  layers: ParsedDescriptor[];
  /** Children of an index. */
  manifests: ParsedDescriptor[];
  subject?: ParsedDescriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `manifest invalid: ${message}`, detail);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(object: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = object[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where}.${field} must be a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((entry) => typeof entry !== 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
  return value as Record<string, string>;
}

function descriptor(value: unknown, where: string): ParsedDescriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const mediaType = value.mediaType;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  const digest = typeof value.digest === 'string' ? parseDigest(value.digest) : undefined;
  if (!digest?.ok) throw invalid(`${where}.digest is not a valid digest`, { digest: value.digest });
  const size = value.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const urls = value.urls;
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((url) => typeof url !== 'string'))) {
    throw invalid(`${where}.urls must be an array of strings`);
  }
  const result: ParsedDescriptor = { mediaType, digest: digest.digest, size };
  if (urls) result.urls = urls as string[];
  const artifactType = optionalString(value, 'artifactType', where);
  if (artifactType !== undefined) result.artifactType = artifactType;
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations) result.annotations = annotations;
  return result;
}

function descriptorList(value: unknown, where: string): ParsedDescriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((entry, index) => descriptor(entry, `${where}[${index}]`));
}

/** Decides the manifest's media type from its `mediaType` field, the Content-Type, or its shape. */
function mediaTypeOf(body: Record<string, unknown>, contentType: string | undefined): string {
  const field = body.mediaType;
  if (field !== undefined && typeof field !== 'string') throw invalid('mediaType must be a string');
  const declared = contentType && MANIFEST_TYPES.includes(contentType) ? contentType : undefined;
  if (field && declared && field !== declared) {
    throw invalid(`mediaType "${field}" does not match Content-Type "${contentType}"`);
  }
  const chosen = field ?? declared ?? inferMediaType(body);
  if (!chosen || !MANIFEST_TYPES.includes(chosen)) {
    throw invalid(`unsupported manifest media type "${chosen ?? contentType ?? ''}"`, {
      supported: MANIFEST_TYPES,
    });
  }
  return chosen;
}

/** An OCI manifest may omit `mediaType`; its structure then says what it is. */
export function inferMediaType(body: Record<string, unknown>): string | undefined {
  if (typeof body.mediaType === 'string') return body.mediaType;
  if (Array.isArray(body.manifests)) return MediaType.OciIndex;
  if (isObject(body.config)) return MediaType.OciManifest;
  return undefined;
}

export function decodeJson(bytes: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalid('body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid(`body is not valid JSON (${error instanceof Error ? error.message : 'parse error'})`);
  }
}

export function parseManifest(
  bytes: Buffer,
  contentTypeHeader: string | undefined,
  algorithm: DigestAlgorithm,
): ParsedManifest {
  const contentType = bareMediaType(contentTypeHeader);
  if (contentType && SCHEMA1_TYPES.includes(contentType)) throw schema1();
  const body = decodeJson(bytes);
  if (!isObject(body)) throw invalid('body must be a JSON object');
  if (body.schemaVersion === 1) throw schema1();
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const mediaType = mediaTypeOf(body, contentType);
  const manifest: ParsedManifest = {
    mediaType,
    kind: INDEX_TYPES.includes(mediaType) ? 'index' : 'image',
    digest: digestOf(algorithm, bytes),
    bytes,
    layers: [],
    manifests: [],
  };
  if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
    manifest.config = descriptor(body.config, 'config');
    manifest.layers = descriptorList(body.layers, 'layers');
  } else {
    manifest.manifests = descriptorList(body.manifests, 'manifests');
  }
  if (body.subject !== undefined) manifest.subject = descriptor(body.subject, 'subject');
  const artifactType = optionalString(body, 'artifactType', 'manifest');
  if (artifactType !== undefined) manifest.artifactType = artifactType;
  const annotations = stringMap(body.annotations, 'annotations');
  if (annotations) manifest.annotations = annotations;
  return manifest;
}

function schema1(): RegistryError {
  return invalid('Docker manifest schema 1 is not supported; push the image as Docker schema 2 or OCI', {
    supported: MANIFEST_TYPES,
  });
}

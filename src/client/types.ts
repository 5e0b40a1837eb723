/**
 * The documents a registry client reads and writes: descriptors, image manifests, image indexes
 * and image configs (OCI Image Spec; Docker manifest v2 schema 2 uses the same shapes).
 */
import { INDEX_TYPES, IMAGE_MANIFEST_TYPES } from '../api/media-types.js';

export type Annotations = Record<string, string>;

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Annotations;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

export type Manifest = ImageManifest | ImageIndex;

/** The parts of an image configuration the client reads (OCI Image Spec, config.md). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: { Labels?: Record<string, string>; [key: string]: unknown };
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

/** A manifest as fetched: its exact bytes (whose digest is `digest`), media type and parsed form. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  manifest: Manifest;
}

/** What a HEAD on a manifest or blob tells. */
export interface ContentInfo {
  digest: string;
  mediaType: string;
  size: number;
}

export function isIndex(manifest: Manifest, mediaType?: string): manifest is ImageIndex {
  if (mediaType && INDEX_TYPES.includes(mediaType)) return true;
  if (mediaType && IMAGE_MANIFEST_TYPES.includes(mediaType)) return false;
  return Array.isArray((manifest as ImageIndex).manifests) && !('config' in manifest);
}

export function isImageManifest(manifest: Manifest, mediaType?: string): manifest is ImageManifest {
  return !isIndex(manifest, mediaType);
}

/** The media type of a manifest: the `mediaType` field, or guessed from its shape. */
export function manifestMediaType(manifest: Manifest, fallback?: string): string {
  if (manifest.mediaType) return manifest.mediaType;
  if (fallback) return fallback;
  return 'manifests' in manifest
    ? 'application/vnd.oci.image.index.v1+json'
    : 'application/vnd.oci.image.manifest.v1+json';
}

/** `linux/amd64`, `linux/arm64/v8`, as docker and skopeo write platforms. */
export function formatPlatform(platform: Platform | undefined): string {
  if (!platform) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** The annotation OCI uses for an image's creation time. */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** The annotation an OCI image layout's index.json uses to name a manifest (the tag). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The Accept header for manifests: every type the client understands. */
export { MANIFEST_ACCEPT } from '../api/media-types.js';

/**
 * What a person browsing a repository wants to know of a manifest without opening it: its size,
 * its platforms, when it was built. Worked out from the manifest and, for an image, its config
 * blob; for an index, from its children. Content never changes, so summaries are kept by digest.
 *
 * Size is what a pull of this manifest transfers at most: the manifest itself, its config and
 * layers; for an index, its own bytes plus every child's summary, each blob counted once.
 */
import { parseDigest, type Digest } from '../api/reference.js';
import type { BlobStore } from './blob-store.js';
import { decodeJson, inferMediaType } from './manifests/parse.js';
import type { ManifestStore } from './manifests/store.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageSummary {
  digest: string;
  mediaType: string;
  kind: 'image' | 'index';
  artifactType?: string;
  size: number;
  platforms: Platform[];
  /** The config's `created` (an index: the newest of its children, or its created annotation). */
  created?: string;
}

/** Configs larger than this are not read for a summary (they are JSON of a few kilobytes). */
const CONFIG_READ_LIMIT = 1024 * 1024;
const CACHE_ENTRIES = 20_000;
const CREATED_ANNOTATION = 'org.opencontainers.image.created';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function platformOf(value: unknown): Platform | undefined {
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') return undefined;
  const platform: Platform = { os: value.os, architecture: value.architecture };
  if (typeof value.variant === 'string' && value.variant) platform.variant = value.variant;
  return platform;
}

function digestIn(descriptor: unknown): Digest | undefined {
  if (!isObject(descriptor) || typeof descriptor.digest !== 'string') return undefined;
  const parsed = parseDigest(descriptor.digest);
  return parsed.ok ? parsed.digest : undefined;
}

function sizeIn(descriptor: unknown): number {
  return isObject(descriptor) && typeof descriptor.size === 'number' && descriptor.size >= 0 ? descriptor.size : 0;
}

interface Parts {
  summary: ImageSummary;
  /** Size of each blob this manifest pulls, by digest (for counting shared blobs once in an index). */
  blobs: Map<string, number>;
}

export class ImageSummaries {
  private readonly cache = new Map<string, Parts>();

  constructor(
    private readonly manifests: ManifestStore,
    private readonly blobs: BlobStore,
  ) {}

  /** The summary of a manifest the repository holds; undefined when it holds no such manifest. */
  async summary(name: string, digest: Digest): Promise<ImageSummary | undefined> {
    return (await this.parts(name, digest, 0))?.summary;
  }

  private async parts(name: string, digest: Digest, depth: number): Promise<Parts | undefined> {
    const cached = this.cache.get(digest.value);
    // Cached content is the same in every repository; whether this one holds it is checked each time.
    if (cached && (await this.manifests.exists(name, digest))) return cached;
    const stored = await this.manifests.get(name, digest);
    if (!stored) return undefined;
    let json: Json;
    try {
      const decoded = decodeJson(stored.bytes);
      if (!isObject(decoded)) return undefined;
      json = decoded;
    } catch {
      return undefined;
    }
    const mediaType = stored.mediaType || inferMediaType(json) || '';
    const parts = Array.isArray(json.manifests)
      ? await this.indexParts(name, digest, json, mediaType, stored.bytes.length, depth)
      : await this.imageParts(digest, json, mediaType, stored.bytes.length);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(digest.value, parts);
    return parts;
  }

  private async imageParts(digest: Digest, json: Json, mediaType: string, ownSize: number): Promise<Parts> {
    const blobs = new Map<string, number>();
    const config = json.config;
    const layers = Array.isArray(json.layers) ? json.layers : [];
    for (const descriptor of [config, ...layers]) {
      const blob = digestIn(descriptor);
      if (blob) blobs.set(blob.value, sizeIn(descriptor));
    }
    const summary: ImageSummary = {
      digest: digest.value,
      mediaType,
      kind: 'image',
      size: ownSize + sum(blobs),
      platforms: [],
    };
    const artifactType =
      typeof json.artifactType === 'string'
        ? json.artifactType
        : isObject(config) && typeof config.mediaType === 'string'
          ? config.mediaType
          : undefined;
    if (artifactType) summary.artifactType = artifactType;
    const configJson = await this.readConfig(config);
    const platform = platformOf(configJson);
    if (platform) summary.platforms.push(platform);
    if (typeof configJson?.created === 'string') summary.created = configJson.created;
    return { summary, blobs };
  }

  private async indexParts(
    name: string,
    digest: Digest,
    json: Json,
    mediaType: string,
    ownSize: number,
    depth: number,
  ): Promise<Parts> {
    const blobs = new Map<string, number>();
    const summary: ImageSummary = { digest: digest.value, mediaType, kind: 'index', size: ownSize, platforms: [] };
    if (typeof json.artifactType === 'string') summary.artifactType = json.artifactType;
    let created: string | undefined;
    for (const child of json.manifests as unknown[]) {
      const childDigest = digestIn(child);
      if (!childDigest) continue;
      // Nested indexes are rare; a bound keeps a hostile chain from recursing without end.
      const parts = depth < 4 ? await this.parts(name, childDigest, depth + 1) : undefined;
      summary.size += sizeIn(child);
      for (const [blob, size] of parts?.blobs ?? []) blobs.set(blob, size);
      const platform = isObject(child) ? platformOf(child.platform) : undefined;
      if (platform) summary.platforms.push(platform);
      else summary.platforms.push(...(parts?.summary.platforms ?? []));
      const childCreated = parts?.summary.created;
      if (childCreated && (!created || childCreated > created)) created = childCreated;
    }
    summary.size += sum(blobs);
    const annotations = isObject(json.annotations) ? json.annotations : {};
    const annotated = annotations[CREATED_ANNOTATION];
    if (typeof annotated === 'string') summary.created = annotated;
    else if (created) summary.created = created;
    return { summary, blobs };
  }

  private async readConfig(descriptor: unknown): Promise<Json | undefined> {
    const digest = digestIn(descriptor);
    if (!digest || sizeIn(descriptor) > CONFIG_READ_LIMIT) return undefined;
    const info = await this.blobs.stat(digest);
    if (!info || info.size > CONFIG_READ_LIMIT) return undefined;
    try {
      const decoded = decodeJson(await this.blobs.getContent(digest));
      return isObject(decoded) ? decoded : undefined;
    } catch {
      return undefined;
    }
  }
}

function sum(sizes: Map<string, number>): number {
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

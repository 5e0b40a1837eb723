/**
 * Manifests of one registry: bytes in the shared blob store, a revision link per repository.
 * A manifest is accepted only when everything it references is present in the repository.
 */
import type { Digest } from '../../api/reference.js';
import { RegistryError } from '../../api/errors.js';
import { MediaType } from '../../api/media-types.js';
import { checkLayerUrls, DEFAULT_LAYER_URL_RULES, type LayerUrlRules } from './layer-urls.js';
import type { StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import type { BlobStore } from '../blob-store.js';
import { ContentCache } from '../content-cache.js';
import { deleteIfPresent, readLink, writeLink } from '../links.js';
import { decodeJson, inferMediaType, type ParsedDescriptor, type ParsedManifest } from './parse.js';

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** Media types by digest: content never changes, so what was read once stays true. */
const MEDIA_TYPE_CACHE_LIMIT = 50_000;
/** Manifest bytes kept in memory per process, by digest (content never changes). */
const CONTENT_CACHE_BYTES = 8 * 1024 * 1024;

export class ManifestStore {
  private readonly mediaTypes = new Map<string, string>();
  /**
   * Bytes by digest. Only the content is cached: whether the repository holds the manifest (its
   * revision link) is read from storage on every request, so a deleted manifest is never served.
   */
  private readonly contents = new ContentCache(CONTENT_CACHE_BYTES, 'manifests');

  /** `onLinked` runs after a revision link is written into a repository (the catalog's cache listens). */
  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly onLinked?: (name: string) => Promise<void>,
    private readonly layerUrls: LayerUrlRules = DEFAULT_LAYER_URL_RULES,
  ) {}

  async exists(name: string, digest: Digest): Promise<boolean> {
    const linked = await readLink(this.driver, paths.revisionLink(name, digest));
    return linked?.value === digest.value && (await this.blobs.stat(digest)) !== undefined;
  }

  /** The manifest with this digest if the repository holds it. */
  async get(name: string, digest: Digest): Promise<StoredManifest | undefined> {
    const linked = await readLink(this.driver, paths.revisionLink(name, digest));
    if (linked?.value !== digest.value) return undefined;
    let bytes = this.contents.get(digest.value);
    if (!bytes) {
      try {
        bytes = await this.blobs.getContent(digest);
      } catch {
        return undefined;
      }
      this.contents.set(digest.value, bytes);
    }
    return { digest, bytes, mediaType: this.mediaTypeOf(digest, bytes) };
  }

  /**
   * Stores a parsed manifest after checking its references, and links it into the repository.
   * A pull-through cache stores what its upstream served without the check (`references: false`):
   * the blobs are fetched when they are first pulled.
   */
  async put(name: string, manifest: ParsedManifest, options: { references?: boolean } = {}): Promise<void> {
    if (options.references !== false) await this.checkReferences(name, manifest);
    await this.blobs.put(manifest.digest, manifest.bytes);
    await writeLink(this.driver, paths.revisionLink(name, manifest.digest), manifest.digest);
    this.mediaTypes.set(manifest.digest.value, manifest.mediaType);
    await this.onLinked?.(name);
  }

  /** Removes the revision link; the bytes stay until garbage collection. */
  async delete(name: string, digest: Digest): Promise<boolean> {
    return deleteIfPresent(this.driver, paths.revisionFolder(name, digest));
  }

  private async checkReferences(name: string, manifest: ParsedManifest): Promise<void> {
    const blobs: ParsedDescriptor[] = [];
    if (manifest.config) blobs.push(manifest.config);
    blobs.push(...checkLayerUrls(manifest.layers, this.layerUrls));
    const missing: string[] = [];
    await Promise.all([
      // The bytes too, not only the link: garbage collection removes a swept blob's bytes
      // before its links, and a link can outlive its bytes after a crash.
      ...blobs.map(async (blob) => {
        const present =
          (await this.blobs.isLinked(name, blob.digest)) && (await this.blobs.stat(blob.digest)) !== undefined;
        if (!present) missing.push(blob.digest.value);
      }),
      ...manifest.manifests.map(async (child) => {
        if (!(await this.exists(name, child.digest))) missing.push(child.digest.value);
      }),
    ]);
    if (missing.length > 0) {
      missing.sort();
      throw new RegistryError(
        'MANIFEST_BLOB_UNKNOWN',
        `manifest references ${missing.length === 1 ? 'a blob or manifest' : `${missing.length} blobs or manifests`} unknown to this repository: ${missing.join(', ')}`,
        { digests: missing },
      );
    }
  }

  private mediaTypeOf(digest: Digest, bytes: Buffer): string {
    const cached = this.mediaTypes.get(digest.value);
    if (cached) return cached;
    let mediaType: string = MediaType.OciManifest;
    try {
      const body = decodeJson(bytes);
      if (typeof body === 'object' && body !== null) {
        mediaType = inferMediaType(body as Record<string, unknown>) ?? mediaType;
      }
    } catch {
      // Unreadable stored bytes: serve them as they are, typed as the most common kind.
    }
    if (this.mediaTypes.size >= MEDIA_TYPE_CACHE_LIMIT) this.mediaTypes.clear();
    this.mediaTypes.set(digest.value, mediaType);
    return mediaType;
  }
}

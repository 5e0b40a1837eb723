/**
 * The referrers index: for each subject digest, links to the manifests in the repository whose
 * `subject` names it (`_referrers/…`, see storage/paths.ts). Descriptors are built from the
 * referring manifests themselves, so the index holds nothing that could disagree with them.
 */
import { parseDigest, type Digest } from '../api/reference.js';
import { MediaType } from '../api/media-types.js';
import type { StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { deleteIfPresent, listIfPresent, writeLink } from './links.js';
import type { ManifestStore } from './manifests/store.js';
import { decodeJson, parseManifest, type ParsedManifest } from './manifests/parse.js';
import type { TagStore } from './tags.js';

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class ReferrerStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly manifests: ManifestStore,
    private readonly tags: TagStore,
  ) {}

  async add(name: string, manifest: ParsedManifest): Promise<void> {
    if (!manifest.subject) return;
    await writeLink(this.driver, paths.referrerLink(name, manifest.subject.digest, manifest.digest), manifest.digest);
  }

  async remove(name: string, subject: Digest, referrer: Digest): Promise<void> {
    await deleteIfPresent(this.driver, paths.referrerLink(name, subject, referrer).replace(/\/link$/, ''));
  }

  /**
   * Every manifest in the repository that names `subject`, sorted by digest. Manifests listed in
   * an index under the referrers tag schema (`sha256-<hex>`), pushed by clients before this API
   * existed, are included too, as the spec's upgrade procedure asks.
   */
  async list(name: string, subject: Digest): Promise<ReferrerDescriptor[]> {
    const digests = new Set<string>();
    const folder = paths.referrersFolder(name, subject);
    for (const algorithm of await listIfPresent(this.driver, folder)) {
      for (const hex of await listIfPresent(this.driver, `${folder}/${algorithm}`)) digests.add(`${algorithm}:${hex}`);
    }
    for (const digest of await this.fromReferrersTag(name, subject)) digests.add(digest);
    const descriptors = await Promise.all([...digests].map((digest) => this.describe(name, subject, digest)));
    return descriptors
      .filter((descriptor): descriptor is ReferrerDescriptor => descriptor !== undefined)
      .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  private async fromReferrersTag(name: string, subject: Digest): Promise<string[]> {
    const tag = `${subject.algorithm}-${subject.hex.slice(0, 64)}`;
    const digest = await this.tags.resolve(name, tag);
    const stored = digest && (await this.manifests.get(name, digest));
    if (!stored || stored.mediaType !== MediaType.OciIndex) return [];
    try {
      const body = decodeJson(stored.bytes) as { manifests?: Array<{ digest?: unknown }> };
      return (body.manifests ?? []).map((entry) => entry.digest).filter((d): d is string => typeof d === 'string');
    } catch {
      return [];
    }
  }

  /** A descriptor for one referrer, or undefined when it is gone or does not name `subject`. */
  private async describe(name: string, subject: Digest, value: string): Promise<ReferrerDescriptor | undefined> {
    const parsed = parseDigest(value);
    if (!parsed.ok) return undefined;
    const stored = await this.manifests.get(name, parsed.digest);
    if (!stored) return undefined;
    let manifest: ParsedManifest;
    try {
      manifest = parseManifest(stored.bytes, stored.mediaType, parsed.digest.algorithm);
    } catch {
      return undefined;
    }
    if (manifest.subject?.digest.value !== subject.value) return undefined;
    const descriptor: ReferrerDescriptor = { mediaType: manifest.mediaType, digest: value, size: stored.bytes.length };
    const artifactType = manifest.artifactType || (manifest.kind === 'image' ? manifest.config?.mediaType : undefined);
    if (artifactType) descriptor.artifactType = artifactType;
    if (manifest.annotations) descriptor.annotations = manifest.annotations;
    return descriptor;
  }
}

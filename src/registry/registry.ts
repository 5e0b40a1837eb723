/**
 * The registry's logic, over one storage driver: the stores for blobs, uploads, manifests, tags,
 * referrers and the catalog, and the operations that span several of them. HTTP handlers call
 * this; only this layer knows the storage layout.
 */
import { isDigestReference, parseDigest, type Digest } from '../api/reference.js';
import { RegistryError, errors } from '../api/errors.js';
import type { StorageDriver } from '../storage/driver.js';
import type { Locker } from '../shared/lock.js';
import { BlobStore } from './blob-store.js';
import { Catalog } from './catalog.js';
import { ReferenceGuard } from './gc/protocol.js';
import { parseManifest, type ParsedManifest } from './manifests/parse.js';
import { ManifestStore, type StoredManifest } from './manifests/store.js';
import type { LayerUrlRules } from './manifests/layer-urls.js';
import { ImageSummaries } from './image-summary.js';
import { ReferrerStore } from './referrers.js';
import { StorageAccounting } from './policies/accounting.js';
import { ImmutableTags } from './policies/immutable.js';
import type { PolicyOptions } from './policies/options.js';
import { Quotas } from './policies/quotas.js';
import { PullRecorder } from './policies/pulls.js';
import { TagStore } from './tags.js';
import { UploadStore, type UploadLimits } from './uploads.js';

export class Registry {
  /** Declares each write's references so online garbage collection keeps them (gc/protocol.ts). */
  readonly guard: ReferenceGuard;
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly referrers: ReferrerStore;
  readonly catalog: Catalog;
  /** Sizes, platforms and dates of manifests, for people browsing (the web UI). */
  readonly summaries: ImageSummaries;
  /** Bytes each repository and namespace uses, shared layers counted once (docs/policies.md). */
  readonly accounting: StorageAccounting;
  /** Tags that may not be moved or deleted (`berth.immutabletags`). */
  readonly immutable: ImmutableTags;
  /** Byte and tag limits per repository or namespace (`berth.quotas`). */
  readonly quotas: Quotas;
  /** When each manifest was last pulled, recorded in memory and written in batches. */
  readonly pulls: PullRecorder;

  /** `lock` serialises the requests of one upload; pass a Redis one when instances share storage. */
  constructor(
    readonly driver: StorageDriver,
    options: { lock?: Locker; uploads?: UploadLimits; policies?: PolicyOptions; layerUrls?: LayerUrlRules } = {},
  ) {
    this.guard = new ReferenceGuard(driver);
    this.catalog = new Catalog(driver);
    const policies = options.policies ?? {};
    this.accounting = new StorageAccounting(driver, this.catalog, {
      verifyMs: policies.accountingRescanMs,
      readOnly: policies.readOnly,
      onError: (error, message) => policies.logger?.warn({ err: error }, message),
    });
    // A link written into a repository may have created it: the catalog's cache and the accounting must know.
    const linked = async (name: string) => {
      await this.catalog.noteWrite(name);
      await this.accounting.linked(name);
    };
    this.blobs = new BlobStore(driver, linked, (name) => this.accounting.changed(name));
    this.uploads = new UploadStore(driver, this.blobs, this.guard, options.lock, options.uploads);
    this.manifests = new ManifestStore(driver, this.blobs, linked, options.layerUrls);
    this.tags = new TagStore(driver);
    this.referrers = new ReferrerStore(driver, this.manifests, this.tags);
    this.summaries = new ImageSummaries(this.manifests, this.blobs);
    this.immutable = new ImmutableTags(driver, policies.immutableTags ?? [], (name, tag, unlock) =>
      policies.logger?.warn({ repository: name, tag, unlock }, 'immutable tag unlocked for one operation'),
    );
    this.quotas = new Quotas(this.accounting, policies.quotas, policies.logger);
    this.pulls = new PullRecorder(driver, {
      flushMs: policies.pullsFlushMs,
      enabled: policies.recordPulls,
      now: policies.now,
      onFlushError: (error) => policies.logger?.warn({ err: error }, 'pull times: writing failed; retrying later'),
    });
  }

  /** The digest a tag or digest reference names in a repository, if any. */
  async resolve(name: string, reference: string): Promise<Digest | undefined> {
    if (!isDigestReference(reference)) return this.tags.resolve(name, reference);
    const parsed = parseDigest(reference);
    if (!parsed.ok) throw errors.digestInvalid({ digest: reference }, parsed.reason);
    return parsed.digest;
  }

  async getManifest(name: string, reference: string): Promise<StoredManifest> {
    const digest = await this.resolve(name, reference);
    const manifest = digest && (await this.manifests.get(name, digest));
    if (!manifest) throw errors.manifestUnknown(reference);
    return manifest;
  }

  /**
   * Stores a manifest pushed by tag or by digest (plus any extra tags), in an order that keeps
   * storage consistent at every step: content, revision link, referrers index, then tags.
   */
  async putManifest(
    name: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    extraTags: string[] = [],
  ): Promise<ParsedManifest> {
    const byDigest = isDigestReference(reference);
    let expected: Digest | undefined;
    if (byDigest) {
      const parsed = parseDigest(reference);
      if (!parsed.ok) throw errors.digestInvalid({ digest: reference }, parsed.reason);
      expected = parsed.digest;
    }
    const manifest = parseManifest(bytes, contentType, expected?.algorithm ?? 'sha256');
    if (expected && expected.value !== manifest.digest.value) {
      throw errors.digestInvalid(
        { expected: expected.value, actual: manifest.digest.value },
        'manifest digest did not match the digest in the URL',
      );
    }
    const tags = byDigest ? extraTags : [reference, ...extraTags];
    const current = await Promise.all(tags.map((tag) => this.tags.resolve(name, tag)));
    for (const [at, tag] of tags.entries())
      await this.immutable.assertMayChange(name, tag, current[at], manifest.digest);
    const quotaChecks = this.quotas.enabled
      ? await this.quotas.assertMayPush(name, manifest, new Set(tags.filter((_, at) => !current[at])).size)
      : [];
    // Declared before the reference checks in manifests.put, so that a garbage collection sweep
    // either keeps everything this manifest relies on or finishes before the checks run. The
    // manifest itself is walked with its children: re-tagging an untagged manifest makes its
    // referrers reachable again, so a sweep must keep them as it keeps the children.
    const children = manifest.manifests.map((child) => child.digest);
    const relied = [
      manifest.digest,
      ...(manifest.config ? [manifest.config.digest] : []),
      ...manifest.layers.map((layer) => layer.digest),
      ...children,
    ];
    await this.guard.protect(
      name,
      relied,
      async () => {
        await this.manifests.put(name, manifest);
        await this.referrers.add(name, manifest);
        for (const tag of tags) await this.tags.tag(name, tag, manifest.digest);
      },
      [manifest.digest, ...children],
    );
    await this.accounting.changed(name);
    this.quotas.warnIfNear(quotaChecks);
    return manifest;
  }

  /**
   * Stores a manifest a pull-through cache fetched from its upstream, checked against the digest
   * the upstream named, and points `tag` at it when given. Its blobs need not be here yet.
   */
  async storeFetchedManifest(
    name: string,
    expected: Digest,
    bytes: Buffer,
    mediaType: string | undefined,
    tag?: string,
  ): Promise<StoredManifest> {
    const manifest = parseManifest(bytes, mediaType, expected.algorithm);
    if (manifest.digest.value !== expected.value) {
      throw errors.digestInvalid(
        { expected: expected.value, actual: manifest.digest.value },
        'the upstream sent a manifest whose digest is not the one it named',
      );
    }
    await this.guard.protect(name, [manifest.digest], async () => {
      await this.manifests.put(name, manifest, { references: false });
      await this.referrers.add(name, manifest);
      if (tag !== undefined) await this.tags.tag(name, tag, manifest.digest);
    });
    await this.accounting.changed(name);
    return { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes };
  }

  /**
   * Cross-repository mount: links a stored blob into `name` (from `from` when given, which must
   * link it). False when there is nothing to mount. The check and the link run under the GC guard,
   * so a sweep cannot delete the bytes between them.
   */
  mountBlob(name: string, digest: Digest, from?: string): Promise<boolean> {
    return this.guard.protect(name, [digest], async () => {
      if (from !== undefined && !(await this.blobs.isLinked(from, digest))) return false;
      if (!(await this.blobs.stat(digest))) return false;
      await this.blobs.link(name, digest);
      return true;
    });
  }

  /** Removes a tag (not the manifest it names); false when there was no such tag. */
  async deleteTag(name: string, tag: string): Promise<boolean> {
    await this.immutable.assertMayChange(name, tag, await this.tags.resolve(name, tag), undefined);
    const removed = await this.tags.untag(name, tag);
    if (removed) await this.accounting.changed(name);
    return removed;
  }

  /** Deletes a manifest revision and every tag that points at it; returns the tags removed. */
  async deleteManifest(name: string, digest: Digest): Promise<string[]> {
    const stored = await this.manifests.get(name, digest);
    if (!stored) throw errors.manifestUnknown(digest.value);
    // Only tags that still name this manifest: one moved elsewhere meanwhile stays.
    const tags = await this.tags.tagsFor(name, digest);
    for (const tag of tags) await this.immutable.assertMayChange(name, tag, digest, undefined);
    const untagged: string[] = [];
    for (const tag of tags) {
      if (await this.tags.untagIf(name, tag, digest)) untagged.push(tag);
    }
    await this.manifests.delete(name, digest);
    await this.accounting.changed(name);
    try {
      const subject = parseManifest(stored.bytes, stored.mediaType, digest.algorithm).subject;
      if (subject) await this.referrers.remove(name, subject.digest, digest);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
    }
    return untagged;
  }
}

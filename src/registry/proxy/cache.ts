/**
 * The pull-through cache (docs/proxy.md): what a GET of a cached repository does before the
 * local copy is served.
 *
 * - Manifest by tag: the upstream is asked with HEAD (sparing its pull budget) at most once per
 *   revalidation interval; a digest we hold is served from storage, another is fetched by digest,
 *   stored and tagged. When the upstream fails (unreachable, timed out, 5xx, 429, our own cap on
 *   requests spent) a tag we hold is served stale, with a warning; without one the failure is
 *   passed on as it happened.
 * - Manifest by digest, blob: served from storage when present, else fetched. A blob's first
 *   pull streams to the client as it arrives while the copy is written beside it, verified
 *   against the digest before it becomes visible, and finished if the client goes away.
 * - One upstream fetch per manifest and blob however many clients ask at once: fetches run under
 *   a lock per content (in-process, or shared through Redis across instances), and whoever waited
 *   finds the content stored when the lock is theirs.
 *
 * Every pull of cached content refreshes its record (records.ts), which expiry reads.
 */
import { proxyMetrics } from '../../metrics/families.js';
import type { Readable } from 'node:stream';
import type { ContentInfo } from '../../client/types.js';
import type { Logger } from 'pino';
import { errors } from '../../api/errors.js';
import { isDigestReference, parseDigest, type Digest } from '../../api/reference.js';
import type { UpstreamClaim } from '../../request/upstream.js';
import type { Locker } from '../../shared/lock.js';
import type { StoredManifest } from '../manifests/store.js';
import type { Registry } from '../registry.js';
import { CacheRecords } from './records.js';
import { tee } from './tee.js';
import { Upstream, UpstreamError, type UpstreamSettings } from './upstream.js';

export interface CachedManifest {
  manifest: StoredManifest;
  /** Why a stale copy was served (the upstream's failure), when it was. */
  stale?: string;
}

export type CachedBlob =
  | { kind: 'local'; size: number }
  /** The first pull: bytes from the upstream as they arrive (the cache copy is written beside). */
  | { kind: 'streaming'; size: number | undefined; stream: Readable };

/** How often a pull rewrites a content's record, at most (per process): a tenth of the TTL, up to a minute. */
const TOUCH_EVERY_MS = 60_000;

export class PullThroughCache {
  private readonly upstreams = new Map<string, Upstream>();
  /** When each cached tag was last confirmed with its upstream, by `name:tag` (per process). */
  private readonly checked = new Map<string, number>();
  /** Manifests this process has just fetched from an upstream: a request served one of them missed the cache. */
  private readonly fetchedNow = new WeakSet<StoredManifest>();
  readonly records: CacheRecords;

  constructor(
    private readonly registry: Registry,
    upstreams: UpstreamSettings[],
    private readonly locker: Locker,
    private readonly logger: Logger,
  ) {
    for (const settings of upstreams) this.upstreams.set(settings.name, new Upstream(settings));
    this.records = new CacheRecords(registry.driver, (upstream) => {
      const ttl = this.upstreams.get(upstream)?.settings.ttlMs ?? 0;
      return ttl > 0 ? Math.min(TOUCH_EVERY_MS, ttl / 10) : TOUCH_EVERY_MS;
    });
  }

  settingsOf(upstream: string): UpstreamSettings | undefined {
    return this.upstreams.get(upstream)?.settings;
  }

  close(): void {
    for (const upstream of this.upstreams.values()) upstream.close();
  }

  private upstream(claim: UpstreamClaim): Upstream {
    const upstream = this.upstreams.get(claim.upstream);
    // The route table only claims names of configured upstreams.
    if (!upstream) throw new Error(`no upstream named ${claim.upstream}`);
    return upstream;
  }

  // ── manifests ─────────────────────────────────────────────────────────────────────────────

  async manifest(name: string, claim: UpstreamClaim, reference: string): Promise<CachedManifest> {
    proxyMetrics.requests.inc({ type: 'manifest' });
    const result = isDigestReference(reference)
      ? { manifest: await this.manifestByDigest(name, claim, parseDigestParam(reference)) }
      : await this.manifestByTag(name, claim, reference);
    const fetched = this.fetchedNow.has(result.manifest);
    (fetched ? proxyMetrics.misses : proxyMetrics.hits).inc({ type: 'manifest' });
    proxyMetrics.pushedBytes.inc({ type: 'manifest' }, result.manifest.bytes.length);
    await this.records.touch(name, result.manifest.digest, 'manifest', result.manifest.bytes.length, claim.upstream);
    return result;
  }

  private async manifestByDigest(name: string, claim: UpstreamClaim, digest: Digest): Promise<StoredManifest> {
    const stored = await this.registry.manifests.get(name, digest);
    if (stored) return stored;
    return this.locker.run(`proxy:manifest:${name}@${digest.value}`, async () => {
      const again = await this.registry.manifests.get(name, digest);
      if (again) return again;
      return this.fetchManifest(name, claim, digest);
    });
  }

  private async fetchManifest(
    name: string,
    claim: UpstreamClaim,
    digest: Digest,
    tag?: string,
  ): Promise<StoredManifest> {
    const fetched = await this.upstream(claim).getManifest(claim.remote, digest.value);
    proxyMetrics.pulledBytes.inc({ type: 'manifest' }, fetched.bytes.length);
    const stored = await this.registry.storeFetchedManifest(name, digest, fetched.bytes, fetched.mediaType, tag);
    this.fetchedNow.add(stored);
    return stored;
  }

  private async manifestByTag(name: string, claim: UpstreamClaim, tag: string): Promise<CachedManifest> {
    const key = `${name}:${tag}`;
    const asked = Date.now();
    const upstream = this.upstream(claim);
    const fresh = () => {
      const checked = this.checked.get(key);
      // Confirmed within the interval, or by another request while this one waited for the lock.
      return checked !== undefined && (checked >= asked || asked - checked < upstream.settings.revalidateMs);
    };
    const local = async () => {
      const digest = await this.registry.tags.resolve(name, tag);
      return digest && (await this.registry.manifests.get(name, digest));
    };
    if (fresh()) {
      const held = await local();
      if (held) return { manifest: held };
    }
    return this.locker.run(`proxy:tag:${key}`, async () => {
      const held = await local();
      if (held && fresh()) return { manifest: held };
      let info: ContentInfo | undefined;
      try {
        info = await upstream.headManifest(claim.remote, tag);
      } catch (error) {
        if (held && error instanceof UpstreamError && error.kind !== 'refused')
          return this.stale(held, name, tag, error);
        throw error;
      }
      if (!info) {
        throw new UpstreamError(`${upstream.name} has no manifest ${claim.remote}:${tag}`, 'refused', 404, [
          { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { tag } },
        ]);
      }
      const digest = parseDigestParam(info.digest);
      let manifest: StoredManifest;
      if (held?.digest.value === digest.value) {
        manifest = held;
      } else {
        const stored = await this.registry.manifests.get(name, digest);
        if (stored) {
          await this.registry.tags.tag(name, tag, digest);
          await this.registry.accounting.changed(name);
          manifest = stored;
        } else {
          try {
            manifest = await this.fetchManifest(name, claim, digest, tag);
          } catch (error) {
            if (held && error instanceof UpstreamError && error.kind !== 'refused')
              return this.stale(held, name, tag, error);
            throw error;
          }
        }
      }
      this.checked.set(key, Date.now());
      if (this.checked.size > 100_000) this.checked.delete(this.checked.keys().next().value!);
      return { manifest };
    });
  }

  private stale(held: StoredManifest, name: string, tag: string, error: UpstreamError): CachedManifest {
    this.logger.warn(
      { repository: name, tag, digest: held.digest.value, err: error.message },
      'upstream failed: serving the cached tag',
    );
    return { manifest: held, stale: error.message };
  }

  // ── tags ──────────────────────────────────────────────────────────────────────────────────

  /** The upstream's tags, as Distribution's cache lists them; the cached ones when it fails. */
  async tags(name: string, claim: UpstreamClaim): Promise<string[]> {
    try {
      return await this.upstream(claim).tags(claim.remote);
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.kind === 'refused') throw error;
      if (!(await this.registry.catalog.exists(name))) throw error;
      this.logger.warn({ repository: name, err: error.message }, 'upstream failed: listing the cached tags');
      return this.registry.tags.list(name);
    }
  }

  // ── blobs ─────────────────────────────────────────────────────────────────────────────────

  /** Size of a blob, from storage or else from the upstream (nothing is fetched). */
  async headBlob(name: string, claim: UpstreamClaim, digest: Digest): Promise<number> {
    const local = await this.localSize(name, digest);
    if (local !== undefined) return local;
    const info = await this.upstream(claim).headBlob(claim.remote, digest.value);
    if (!info) throw errors.blobUnknown(digest.value);
    return info.size;
  }

  async blob(name: string, claim: UpstreamClaim, digest: Digest): Promise<CachedBlob> {
    const blob = await this.blobFromCacheOrUpstream(name, claim, digest);
    proxyMetrics.requests.inc({ type: 'blob' });
    (blob.kind === 'local' ? proxyMetrics.hits : proxyMetrics.misses).inc({ type: 'blob' });
    if (blob.kind === 'streaming') proxyMetrics.pulledBytes.inc({ type: 'blob' }, blob.size);
    proxyMetrics.pushedBytes.inc({ type: 'blob' }, blob.size);
    return blob;
  }

  private async blobFromCacheOrUpstream(name: string, claim: UpstreamClaim, digest: Digest): Promise<CachedBlob> {
    const local = await this.localSize(name, digest);
    if (local !== undefined) {
      await this.records.touch(name, digest, 'blob', local, claim.upstream);
      return { kind: 'local', size: local };
    }
    return new Promise<CachedBlob>((resolve, reject) => {
      // The lock is held until the copy is stored, so whoever waits for it finds the blob here.
      this.locker
        .run(`proxy:blob:${digest.value}`, async () => {
          const size = await this.localSize(name, digest);
          if (size !== undefined) return resolve({ kind: 'local', size });
          const elsewhere = await this.registry.blobs.stat(digest);
          if (elsewhere) {
            // Stored for another repository: the upstream need only confirm this one has it.
            const info = await this.upstream(claim).headBlob(claim.remote, digest.value);
            if (!info) throw errors.blobUnknown(digest.value);
            await this.registry.mountBlob(name, digest);
            await this.records.touch(name, digest, 'blob', elsewhere.size, claim.upstream);
            return resolve({ kind: 'local', size: elsewhere.size });
          }
          const fetched = await this.upstream(claim).openBlob(claim.remote, digest.value);
          const branches = tee(fetched.stream);
          resolve({ kind: 'streaming', size: fetched.size, stream: branches.client });
          await this.store(name, claim, digest, branches.cache);
        })
        .catch((error: unknown) => {
          // After the client got its stream, a failure concerns the cache copy only.
          this.logger.warn({ repository: name, digest: digest.value, err: error }, 'caching a blob failed');
          reject(error);
        });
    });
  }

  /** Writes a fetched blob as an upload, which verifies the digest before linking it. */
  private async store(name: string, claim: UpstreamClaim, digest: Digest, body: Readable): Promise<void> {
    const uploads = this.registry.uploads;
    const upload = await uploads.start(name, digest.algorithm);
    try {
      const size = await uploads.complete(name, upload.uuid, digest, body);
      await this.records.touch(name, digest, 'blob', size, claim.upstream);
    } catch (error) {
      body.resume();
      await uploads.cancel(name, upload.uuid).catch(() => undefined);
      throw error;
    }
  }

  private async localSize(name: string, digest: Digest): Promise<number | undefined> {
    const [linked, info] = await Promise.all([
      this.registry.blobs.isLinked(name, digest),
      this.registry.blobs.stat(digest),
    ]);
    return linked && info ? info.size : undefined;
  }
}

function parseDigestParam(value: string): Digest {
  const parsed = parseDigest(value);
  if (!parsed.ok) throw errors.digestInvalid({ digest: value }, `invalid digest: ${parsed.reason}`);
  return parsed.digest;
}

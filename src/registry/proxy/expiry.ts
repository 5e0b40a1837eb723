/**
 * Expiry and the size cap of the pull-through cache, run by online garbage collection before it
 * marks (gc/collector.ts `beforeMark`), so that the same run frees the bytes. Everything is read
 * from storage (the records of records.ts), never from memory: a restart or another instance
 * sees the same ages.
 *
 * 1. A cached manifest not pulled within its upstream's TTL is removed (its revision and the tags
 *    naming it), as Distribution's scheduler removes expired content.
 * 2. While the bytes the remaining cached manifests reach (each blob counted once) exceed
 *    `berth.proxy.maxsize`, the least recently pulled manifest goes.
 * 3. A cached blob link that no remaining cached manifest of its repository reaches, and that is
 *    expired or was dropped by the cap, is removed.
 *
 * The sweep then deletes what nothing references any more (blobs older than the grace period).
 */
import { RegistryError } from '../../api/errors.js';
import { parseManifest, type ParsedManifest } from '../manifests/parse.js';
import type { Registry } from '../registry.js';
import type { CacheRecord, CacheRecords } from './records.js';
import type { ProxySettings } from './settings.js';

export interface ExpiryStep {
  dryRun: boolean;
  emit: (line: string) => void;
  signal?: AbortSignal;
}

export interface ExpiryReport {
  manifestsExpired: number;
  manifestsEvicted: number;
  blobLinksRemoved: number;
  /** Bytes the kept cached content reaches, after eviction. */
  cachedBytes: number;
}

interface CachedImage {
  record: CacheRecord;
  /** Digests it reaches (itself, config, layers, child manifests) with their sizes. */
  reaches: Map<string, number>;
}

export async function expireCache(
  registry: Registry,
  records: CacheRecords,
  settings: ProxySettings,
  step: ExpiryStep,
): Promise<ExpiryReport> {
  const now = Date.now();
  const ttlOf = (upstream: string) => settings.upstreams.find((entry) => entry.name === upstream)?.ttlMs ?? 0;
  const expired = (record: CacheRecord) => {
    const ttl = ttlOf(record.upstream);
    return ttl > 0 && now - record.pulledAt.getTime() > ttl;
  };
  const all: CacheRecord[] = [];
  for (const name of await registry.catalog.all()) all.push(...(await records.list(name)));

  const manifests = all.filter((record) => record.kind === 'manifest');
  const gone: CacheRecord[] = manifests.filter(expired);
  const kept: CachedImage[] = [];
  for (const record of manifests.filter((entry) => !expired(entry))) {
    kept.push({ record, reaches: await reachOf(registry, record) });
  }
  kept.sort((a, b) => a.record.pulledAt.getTime() - b.record.pulledAt.getTime());
  const counts = new Map<string, { size: number; users: number }>();
  for (const image of kept) {
    for (const [digest, size] of image.reaches) {
      const entry = counts.get(digest) ?? { size, users: 0 };
      entry.users++;
      counts.set(digest, entry);
    }
  }
  let total = [...counts.values()].reduce((sum, entry) => sum + entry.size, 0);
  let evicted = 0;
  while (settings.maxSize !== undefined && total > settings.maxSize && kept.length > 0) {
    const oldest = kept.shift()!;
    for (const digest of oldest.reaches.keys()) {
      const entry = counts.get(digest)!;
      entry.users--;
      if (entry.users === 0) {
        counts.delete(digest);
        total -= entry.size;
      }
    }
    gone.push(oldest.record);
    evicted++;
  }

  // Blob links stay while a kept manifest of their repository reaches them.
  const reached = new Set(
    kept.flatMap((image) => [...image.reaches.keys()].map((digest) => `${image.record.name}@${digest}`)),
  );
  const capped = settings.maxSize !== undefined && evicted > 0;
  const blobs = all.filter(
    (record) =>
      record.kind === 'blob' && !reached.has(`${record.name}@${record.digest.value}`) && (expired(record) || capped),
  );

  for (const record of gone) {
    step.signal?.throwIfAborted();
    step.emit(
      `${step.dryRun ? 'would remove' : 'removing'} cached manifest ${record.name}@${record.digest.value} (last pulled ${record.pulledAt.toISOString()})`,
    );
    if (step.dryRun) continue;
    try {
      await registry.deleteManifest(record.name, record.digest);
    } catch (error) {
      // Removed meanwhile: only the record is left to go.
      if (!(error instanceof RegistryError)) throw error;
    }
    await records.remove(record.name, record.digest);
  }
  for (const record of blobs) {
    step.signal?.throwIfAborted();
    if (step.dryRun) continue;
    await registry.blobs.unlink(record.name, record.digest);
    await records.remove(record.name, record.digest);
  }
  return {
    manifestsExpired: gone.length - evicted,
    manifestsEvicted: evicted,
    blobLinksRemoved: step.dryRun ? 0 : blobs.length,
    cachedBytes: total,
  };
}

/** What a cached manifest reaches, with sizes (what is not stored counts nothing). */
async function reachOf(registry: Registry, record: CacheRecord): Promise<Map<string, number>> {
  const reaches = new Map<string, number>([[record.digest.value, record.size]]);
  const stored = await registry.manifests.get(record.name, record.digest);
  if (!stored) return reaches;
  let manifest: ParsedManifest;
  try {
    manifest = parseManifest(stored.bytes, stored.mediaType, record.digest.algorithm);
  } catch {
    return reaches;
  }
  const descriptors = [...(manifest.config ? [manifest.config] : []), ...manifest.layers, ...manifest.manifests];
  for (const descriptor of descriptors) {
    const info = await registry.blobs.stat(descriptor.digest);
    if (info) reaches.set(descriptor.digest.value, info.size);
  }
  return reaches;
}

/**
 * What a pull-through cache fetched into a repository, kept in storage beside the repository
 * (`_proxy/<alg>/<hex>`, storage/paths.ts) so that expiry and the size cap survive restarts and
 * agree across processes and instances: the record holds the content's kind, size and upstream,
 * and its modification time is when it was last pulled. Online garbage collection reads them
 * (expiry.ts); nothing is scheduled in memory.
 *
 * A pull rewrites the record at most once per `touchEvery(upstream)` per process (a small part of
 * the upstream's TTL), so pulling the same image a thousand times writes a record a few times.
 */
import { parseDigest, type Digest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { deleteIfPresent, listIfPresent } from '../links.js';

export type CachedKind = 'manifest' | 'blob';

export interface CacheRecord {
  name: string;
  digest: Digest;
  kind: CachedKind;
  size: number;
  upstream: string;
  /** When it was last pulled (the record's modification time). */
  pulledAt: Date;
}

/** Records of this process's recent touches are remembered up to this many. */
const REMEMBERED = 50_000;

export class CacheRecords {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly touchEvery: (upstream: string) => number,
  ) {}

  /** Notes a pull of cached content (writes the record unless this process did so lately). */
  async touch(name: string, digest: Digest, kind: CachedKind, size: number, upstream: string): Promise<void> {
    const key = `${name}@${digest.value}`;
    const last = this.touched.get(key);
    const now = Date.now();
    if (last !== undefined && now - last < this.touchEvery(upstream)) return;
    await this.driver.putContent(paths.proxyRecord(name, digest), JSON.stringify({ kind, size, upstream }));
    this.touched.delete(key);
    this.touched.set(key, now);
    if (this.touched.size > REMEMBERED) this.touched.delete(this.touched.keys().next().value!);
  }

  /** Every record of a repository (none when it caches nothing). */
  async list(name: string): Promise<CacheRecord[]> {
    const records: CacheRecord[] = [];
    for (const algorithm of await listIfPresent(this.driver, paths.proxyRecordsRoot(name))) {
      for (const hex of await listIfPresent(this.driver, `${paths.proxyRecordsRoot(name)}/${algorithm}`)) {
        const parsed = parseDigest(`${algorithm}:${hex}`);
        if (!parsed.ok) continue;
        const record = await this.read(name, parsed.digest);
        if (record) records.push(record);
      }
    }
    return records;
  }

  async remove(name: string, digest: Digest): Promise<void> {
    this.touched.delete(`${name}@${digest.value}`);
    await deleteIfPresent(this.driver, paths.proxyRecord(name, digest));
  }

  private async read(name: string, digest: Digest): Promise<CacheRecord | undefined> {
    const path = paths.proxyRecord(name, digest);
    try {
      const [content, info] = await Promise.all([this.driver.getContent(path), this.driver.stat(path)]);
      const body = JSON.parse(content.toString('utf8')) as { kind?: unknown; size?: unknown; upstream?: unknown };
      const kind = body.kind === 'manifest' ? 'manifest' : 'blob';
      const size = typeof body.size === 'number' ? body.size : 0;
      const upstream = typeof body.upstream === 'string' ? body.upstream : '';
      return { name, digest, kind, size, upstream, pulledAt: info.modTime };
    } catch (error) {
      // A record being rewritten, or unreadable: it is read again at the next collection.
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }
}

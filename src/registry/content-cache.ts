/**
 * A least-recently-used cache of immutable content by digest, bounded by total bytes. Content
 * addressed by digest never changes, so an entry can never be wrong; callers still check from
 * storage whether a repository holds the content before serving it.
 */
import { cacheLookups } from '../metrics/families.js';

export class ContentCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  private readonly hits;
  private readonly misses;

  /**
   * `limit`: total bytes kept; an item larger than a quarter of it is not kept at all. `name`
   * labels its lookups in berth_cache_lookups_total.
   */
  constructor(
    private readonly limit: number,
    name: string,
  ) {
    this.hits = cacheLookups.labels({ cache: name, result: 'hit' });
    this.misses = cacheLookups.labels({ cache: name, result: 'miss' });
  }

  get(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    (value === undefined ? this.misses : this.hits).inc();
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Buffer): void {
    if (value.length > this.limit / 4) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.bytes -= previous.length;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += value.length;
    for (const [oldest, content] of this.entries) {
      if (this.bytes <= this.limit) break;
      this.entries.delete(oldest);
      this.bytes -= content.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

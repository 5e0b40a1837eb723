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

  set(key: string, content: Buffer): void {
    if (content.length > this.limit / 4) return;
    const value = ownBytes(content);
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

/**
 * The content in a Buffer of its own. A small Buffer is usually a view into a larger memory
 * block: Node's shared 8 KiB pool (`Buffer.allocUnsafe`, `Buffer.concat`, `readFile` below 4 KiB)
 * or a whole read. Kept in the cache, the view keeps the whole block alive, so a cache of 8 MiB
 * of 400-byte manifests would hold some 160 MiB.
 */
function ownBytes(content: Buffer): Buffer {
  if (content.byteOffset === 0 && content.byteLength === content.buffer.byteLength) return content;
  const own = Buffer.allocUnsafeSlow(content.length);
  content.copy(own);
  return own;
}

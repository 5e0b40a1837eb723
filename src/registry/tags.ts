/** Tags: `_manifests/tags/<tag>/current/link` names the digest, `index/` keeps its history. */
import type { Digest } from '../api/reference.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { deleteIfPresent, listIfPresent, readLink, writeLink } from './links.js';
import { KeyedLock } from './keyed-lock.js';
import type { Locker } from '../shared/lock.js';

/** Repositories whose tag listing is kept in memory (least recently used go first). */
const LISTING_CACHE_ENTRIES = 1000;
/**
 * A listing is kept only when the tags folder was last modified this long before it was read.
 * File times are coarse (a clock tick; seconds on some filesystems), so a change right after an
 * earlier one can leave the time unchanged; a folder quiet for this long that then changes gets a
 * later time for certain.
 */
const SETTLED_MS = 3000;

/**
 * Writes to one tag (pointing it, removing it) run one at a time within this process: a manifest
 * DELETE removes only the tags that still name that manifest, checked under the tag's lock, so a
 * tag moved to another manifest meanwhile is kept. (Across processes or instances the check still
 * runs, but a move can land between the check and the removal; the lock is not shared through
 * Redis so that pushing a manifest never depends on Redis being up.)
 */
export class TagStore {
  /**
   * Sorted tag names by repository, with the tags folder's modification time when read. A tag is
   * created or deleted as a folder inside it, which changes that time, whichever process (or
   * registry) does it; resolving a tag never uses this cache.
   */
  private readonly listings = new Map<string, { modified: number; tags: string[] }>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly lock: Locker = new KeyedLock(),
  ) {}

  resolve(name: string, tag: string): Promise<Digest | undefined> {
    return readLink(this.driver, paths.tagCurrentLink(name, tag));
  }

  /** Points a tag at a digest; the history link first, so `current` never names an unindexed digest. */
  tag(name: string, tag: string, digest: Digest): Promise<void> {
    return this.lock.run(lockKey(name, tag), async () => {
      this.listings.delete(name);
      await writeLink(this.driver, paths.tagIndexLink(name, tag, digest), digest);
      await writeLink(this.driver, paths.tagCurrentLink(name, tag), digest);
      this.listings.delete(name);
    });
  }

  /** Removes a tag, whatever it names. */
  untag(name: string, tag: string): Promise<boolean> {
    return this.lock.run(lockKey(name, tag), () => this.remove(name, tag));
  }

  /** Removes a tag only if it still names `digest` (checked and removed under the tag's lock). */
  untagIf(name: string, tag: string, digest: Digest): Promise<boolean> {
    return this.lock.run(lockKey(name, tag), async () => {
      if ((await this.resolve(name, tag))?.value !== digest.value) return false;
      return this.remove(name, tag);
    });
  }

  private async remove(name: string, tag: string): Promise<boolean> {
    this.listings.delete(name);
    const removed = await deleteIfPresent(this.driver, paths.tagFolder(name, tag));
    this.listings.delete(name);
    return removed;
  }

  /** Every tag of the repository, in byte order (as Go's sort.Strings orders them). Do not modify. */
  async list(name: string): Promise<string[]> {
    // Folder modification times mean something on a filesystem only (not on object storage).
    if (this.driver.name !== 'filesystem') return this.read(name);
    let modified: number;
    try {
      modified = (await this.driver.stat(paths.tagsRoot(name))).modTime.getTime();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      this.listings.delete(name);
      return [];
    }
    const cached = this.listings.get(name);
    if (cached?.modified === modified) return cached.tags;
    const readAt = Date.now();
    const tags = await this.read(name);
    if (readAt - modified > SETTLED_MS) {
      this.listings.delete(name);
      this.listings.set(name, { modified, tags });
      if (this.listings.size > LISTING_CACHE_ENTRIES) this.listings.delete(this.listings.keys().next().value!);
    }
    return tags;
  }

  private async read(name: string): Promise<string[]> {
    const tags = await listIfPresent(this.driver, paths.tagsRoot(name));
    return tags.sort(compareBytes);
  }

  /** When the tag was last pushed: the time of its current link; undefined when there is no such tag. */
  async pushedAt(name: string, tag: string): Promise<Date | undefined> {
    try {
      return (await this.driver.stat(paths.tagCurrentLink(name, tag))).modTime;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The tags whose current link names `digest`. */
  async tagsFor(name: string, digest: Digest): Promise<string[]> {
    const tags = await this.list(name);
    const current = await Promise.all(tags.map((tag) => this.resolve(name, tag)));
    return tags.filter((_, index) => current[index]?.value === digest.value);
  }
}

function lockKey(name: string, tag: string): string {
  return `tag\u0000${name}\u0000${tag}`;
}

/** Byte-wise string order; for the ASCII of names and tags it equals Go's sort.Strings. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

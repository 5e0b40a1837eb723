/** Tags: `_manifests/tags/<tag>/current/link` names the digest, `index/` keeps its history. */
import { cacheLookups } from '../metrics/families.js';
import type { Digest } from '../api/reference.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { sortPaced } from '../storage/pace.js';
import * as paths from '../storage/paths.js';
import { deleteIfPresent, listIfPresent, readLink, writeLink } from './links.js';
import { KeyedLock } from './keyed-lock.js';
import type { Locker } from '../shared/lock.js';
import { mapLimit } from './gc/scan.js';

/** Repositories whose tag listing is kept in memory (least recently used go first). */
const LISTING_CACHE_ENTRIES = 1000;
/**
 * A listing is kept only when the tags folder was last modified this long before it was read.
 * File times are coarse (a clock tick; seconds on some filesystems), so a change right after an
 * earlier one can leave the time unchanged; a folder quiet for this long that then changes gets a
 * later time for certain.
 */
const SETTLED_MS = 3000;
/** Current links read at once when a listing is checked for tags that do not resolve. */
const RESOLVE_PARALLEL = 16;

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
  private readonly listings = new Map<string, Listing>();

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

  /**
   * Every tag of the repository that resolves, in byte order (as Go's sort.Strings orders them).
   * A tag folder without a current link (a crash between the tag's two link writes) is left out:
   * it would answer 404. Do not modify.
   */
  async list(name: string): Promise<string[]> {
    // Folder modification times mean something on a filesystem only (not on object storage).
    if (this.driver.name !== 'filesystem') return (await this.read(name)).tags;
    let modified: number;
    try {
      modified = (await this.driver.stat(paths.tagsRoot(name))).modTime.getTime();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      this.listings.delete(name);
      return [];
    }
    const cached = this.listings.get(name);
    const hit = cached?.modified === modified;
    cacheLookups.inc({ cache: 'tags', result: hit ? 'hit' : 'miss' });
    if (hit) return this.recheck(name, cached);
    const readAt = Date.now();
    const listing = await this.read(name);
    if (readAt - modified > SETTLED_MS) {
      this.listings.delete(name);
      this.listings.set(name, { modified, ...listing });
      if (this.listings.size > LISTING_CACHE_ENTRIES) this.listings.delete(this.listings.keys().next().value!);
    }
    return listing.tags;
  }

  /** A tag's current link written since the listing was read does not touch the tags folder. */
  private async recheck(name: string, cached: Listing): Promise<string[]> {
    if (cached.phantoms.length === 0) return cached.tags;
    const resolved = await this.resolving(name, cached.phantoms);
    if (resolved.length === 0) return cached.tags;
    cached.tags = [...cached.tags, ...resolved].sort(compareBytes);
    cached.phantoms = cached.phantoms.filter((tag) => !resolved.includes(tag));
    return cached.tags;
  }

  private async read(name: string): Promise<{ tags: string[]; phantoms: string[] }> {
    const names = await sortPaced(await listIfPresent(this.driver, paths.tagsRoot(name)), compareBytes);
    const tags = await this.resolving(name, names);
    const resolves = new Set(tags);
    return { tags, phantoms: names.filter((tag) => !resolves.has(tag)) };
  }

  /** Those of `tags` (in their order) whose current link names a digest. */
  private async resolving(name: string, tags: string[]): Promise<string[]> {
    const digests = await mapLimit(tags, RESOLVE_PARALLEL, (tag) => this.resolve(name, tag));
    return tags.filter((_, index) => digests[index] !== undefined);
  }

  /**
   * Removes a tag left half-written by a crash (a folder with history but no current link),
   * unless its current link was written meanwhile; true when it was removed.
   */
  removePhantom(name: string, tag: string): Promise<boolean> {
    return this.lock.run(lockKey(name, tag), async () => {
      if (await this.resolve(name, tag)) return false;
      return this.remove(name, tag);
    });
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

interface Listing {
  modified: number;
  /** The tags that resolve. */
  tags: string[];
  /** Tag folders without a current link when read. */
  phantoms: string[];
}

function lockKey(name: string, tag: string): string {
  return `tag\u0000${name}\u0000${tag}`;
}

/** Byte-wise string order; for the ASCII of names and tags it equals Go's sort.Strings. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

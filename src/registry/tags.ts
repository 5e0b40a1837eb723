/** Tags: `_manifests/tags/<tag>/current/link` names the digest, `index/` keeps its history. */
import type { Digest } from '../api/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { deleteIfPresent, listIfPresent, readLink, writeLink } from './links.js';

export class TagStore {
  constructor(private readonly driver: StorageDriver) {}

  resolve(name: string, tag: string): Promise<Digest | undefined> {
    return readLink(this.driver, paths.tagCurrentLink(name, tag));
  }

  /** Points a tag at a digest; the history link first, so `current` never names an unindexed digest. */
  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, paths.tagIndexLink(name, tag, digest), digest);
    await writeLink(this.driver, paths.tagCurrentLink(name, tag), digest);
  }

  untag(name: string, tag: string): Promise<boolean> {
    return deleteIfPresent(this.driver, paths.tagFolder(name, tag));
  }

  /** Every tag of the repository, in byte order (as Go's sort.Strings orders them). */
  async list(name: string): Promise<string[]> {
    const tags = await listIfPresent(this.driver, paths.tagsRoot(name));
    return tags.sort(compareBytes);
  }

  /** The tags whose current link names `digest`. */
  async tagsFor(name: string, digest: Digest): Promise<string[]> {
    const tags = await this.list(name);
    const current = await Promise.all(tags.map((tag) => this.resolve(name, tag)));
    return tags.filter((_, index) => current[index]?.value === digest.value);
  }
}

/** Byte-wise string order; for the ASCII of names and tags it equals Go's sort.Strings. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

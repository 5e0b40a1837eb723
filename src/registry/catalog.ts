/**
 * Repository names: a folder under `repositories/` is a repository when it holds `_manifests`
 * or `_layers`; names nest (`a/b` and `a/b/c` can both be repositories).
 *
 * `listing()`, for `GET /v2/_catalog`, reads the driver's repository index: every driver but the
 * in-memory one keeps one (storage/filesystem/repository-index.ts, storage/bucket/catalog-index.ts
 * for S3 and Azure), updated by the writes themselves and checked against a walk in the background. `all()` is for garbage collection,
 * which must never miss a repository: it walks the tree unless the index says it is complete.
 *
 * For a driver without an index, `listing()` keeps the last walk while the catalog generation
 * (`_berth/catalog/generation`) is unchanged: every Berth process that writes the first link into
 * a repository it has not seen rewrites that token, so all processes sharing the folder walk again
 * on their next listing; other writers are seen when the walk is older than LISTING_MAX_AGE_MS.
 */
import { randomUUID } from 'node:crypto';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import { sortPaced } from '../storage/pace.js';
import * as paths from '../storage/paths.js';
import { listIfPresent } from './links.js';
import { compareBytes } from './tags.js';

/** How long a walk is reused when no Berth process reports a new repository. */
export const LISTING_MAX_AGE_MS = 10_000;

export class Catalog {
  private cached: { generation: string; at: number; names: string[] } | undefined;
  /** Repositories this process knows exist: writing into one of them creates nothing new. */
  private known = new Set<string>();

  constructor(private readonly driver: StorageDriver) {}

  async exists(name: string): Promise<boolean> {
    const entries = await listIfPresent(this.driver, paths.repository(name));
    return paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker));
  }

  /** Every repository name, in byte order, walked now (or from an index that is always complete). */
  async all(): Promise<string[]> {
    // Object storage keeps an index (docs/s3.md): walking every repository folder is too slow there.
    if (this.driver.repositoryIndex?.complete) return [...(await this.driver.repositoryIndex.all())];
    const names: string[] = [];
    await this.collect('', names);
    return sortPaced(names, compareBytes);
  }

  /** Every repository name, in byte order, from the cached walk when it is still current. Do not modify. */
  async listing(): Promise<readonly string[]> {
    if (this.driver.repositoryIndex) return this.driver.repositoryIndex.all();
    // The generation is read before walking: a repository created during the walk changes it,
    // so the next listing walks again.
    const generation = await this.generation();
    const now = Date.now();
    const cached = this.cached;
    if (cached && cached.generation === generation && now - cached.at < LISTING_MAX_AGE_MS) return cached.names;
    const names = await this.all();
    this.cached = { generation, at: now, names };
    this.known = new Set(names);
    return names;
  }

  /**
   * Called after a link is written into `name`. When this process did not know the repository,
   * the write may have created it: the generation changes, and every process walks again.
   */
  async noteWrite(name: string): Promise<void> {
    if (this.known.has(name)) return;
    await this.invalidate();
    this.known.add(name);
  }

  /** Makes every Berth process sharing the storage walk again (after removing repositories, say). */
  async invalidate(): Promise<void> {
    this.cached = undefined;
    if (this.driver.repositoryIndex) return;
    await this.driver.putContent(paths.CATALOG_GENERATION, randomUUID());
  }

  private async generation(): Promise<string> {
    try {
      return (await this.driver.getContent(paths.CATALOG_GENERATION)).toString('utf8');
    } catch (error) {
      if (isNotFound(error)) return '';
      throw error;
    }
  }

  private async collect(prefix: string, names: string[]): Promise<void> {
    const folder = prefix ? paths.repository(prefix) : paths.REPOSITORIES_ROOT;
    const entries = await listIfPresent(this.driver, folder);
    if (prefix && paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker))) names.push(prefix);
    // One folder at a time: a fan-out over every folder at once would resume thousands of
    // walkers in one turn of the event loop, however often each of them yields.
    for (const entry of entries) {
      if (!entry.startsWith('_') && !entry.startsWith('.'))
        await this.collect(prefix ? `${prefix}/${entry}` : entry, names);
    }
  }
}

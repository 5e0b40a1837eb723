/**
 * Repository names: a folder under `repositories/` is a repository when it holds `_manifests`
 * or `_layers`; names nest (`a/b` and `a/b/c` can both be repositories).
 */
import type { StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { listIfPresent } from './links.js';
import { compareBytes } from './tags.js';

export class Catalog {
  constructor(private readonly driver: StorageDriver) {}

  async exists(name: string): Promise<boolean> {
    const entries = await listIfPresent(this.driver, paths.repository(name));
    return paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker));
  }

  /** Every repository name, in byte order. */
  async all(): Promise<string[]> {
    const names: string[] = [];
    await this.collect('', names);
    return names.sort(compareBytes);
  }

  private async collect(prefix: string, names: string[]): Promise<void> {
    const folder = prefix ? paths.repository(prefix) : paths.REPOSITORIES_ROOT;
    const entries = await listIfPresent(this.driver, folder);
    if (prefix && paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker))) names.push(prefix);
    await Promise.all(
      entries
        .filter((entry) => !entry.startsWith('_') && !entry.startsWith('.'))
        .map((entry) => this.collect(prefix ? `${prefix}/${entry}` : entry, names)),
    );
  }
}

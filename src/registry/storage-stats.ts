/**
 * Bytes stored: the blobs in storage, each counted once however many repositories link it (the
 * deduplicated total), and the number of repositories. Found by a walk of `blobs/`, which is slow
 * on a large registry, so one walk serves every caller for a minute and only one runs at a time.
 */
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import type { Catalog } from './catalog.js';

export interface StorageStats {
  /** Distinct blobs (layers, configs and manifests). */
  blobs: number;
  /** Their bytes: what the registry holds on storage, deduplicated. */
  bytes: number;
  repositories: number;
  /** When the walk that found these figures finished (ISO time). */
  computedAt: string;
}

const MAX_AGE_MS = 60_000;

export class StorageStatsCache {
  private last: { stats: StorageStats; at: number } | undefined;
  private running: Promise<StorageStats> | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly catalog: Catalog,
  ) {}

  async stats(): Promise<StorageStats> {
    if (this.last && Date.now() - this.last.at < MAX_AGE_MS) return this.last.stats;
    this.running ??= this.compute().finally(() => (this.running = undefined));
    return this.running;
  }

  private async compute(): Promise<StorageStats> {
    let blobs = 0;
    let bytes = 0;
    try {
      await this.driver.walk(paths.BLOBS_ROOT, (info) => {
        if (info.isDir || !info.path.endsWith('/data')) return;
        blobs += 1;
        bytes += info.size;
      });
    } catch (error) {
      // A registry that has never stored a blob has no blobs folder.
      if (!isNotFound(error)) throw error;
    }
    const repositories = (await this.catalog.listing()).length;
    const stats = { blobs, bytes, repositories, computedAt: new Date().toISOString() };
    this.last = { stats, at: Date.now() };
    return stats;
  }
}

/**
 * Storage accounting (docs/policies.md): how many bytes each repository and namespace really
 * uses, counting shared layers once. One read of storage builds the index (usage-index.ts);
 * afterwards a write in this process marks its repository, and only marked repositories are
 * read again before the next answer, so answers cost nothing like a walk of the registry.
 * Writes by other processes (workers, instances, Distribution) are seen at the next rescan
 * (`berth.accounting.rescan`), which rebuilds in the background while the old figures serve.
 *
 * A repository's bytes are what its manifest revisions need: the manifests, their configs and
 * layers, index children. Blobs uploaded but referenced by no manifest are not counted: they
 * are garbage collection's to free, and a push refused by a quota leaves nothing counted.
 */
import { DIGEST_ALGORITHMS, isValidTag, parseDigest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import type { Catalog } from '../catalog.js';
import { ManifestGraph } from '../gc/graph.js';
import { mapLimit } from '../gc/scan.js';
import { KeyedLock } from '../keyed-lock.js';
import { listIfPresent } from '../links.js';
import {
  UsageIndex,
  type NamespaceUsage,
  type RepositoryContent,
  type RepositoryUsage,
  type UsageTotals,
} from './usage-index.js';

export interface UsageReport {
  /** When storage was last read in full (ISO time); later writes of this process are included. */
  scannedAt: string;
  total: UsageTotals;
  repositories: RepositoryUsage[];
  namespaces: NamespaceUsage[];
}

/** Storage calls kept in flight while reading repositories. */
const PARALLEL = 32;

/** Digests named by `<folder>/<alg>/<hex>/…` (the link's folder name is its digest, as Distribution reads it). */
async function digestFolders(driver: StorageDriver, folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const algorithm of await listIfPresent(driver, folder)) {
    if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) continue;
    for (const hex of await listIfPresent(driver, `${folder}/${algorithm}`)) {
      const parsed = parseDigest(`${algorithm}:${hex}`);
      if (parsed.ok) found.push(parsed.digest.value);
    }
  }
  return found;
}

export class StorageAccounting {
  private readonly sizes = new Map<string, number>();
  private index = new UsageIndex((digest) => this.sizes.get(digest) ?? 0);
  private readonly graph: ManifestGraph;
  private readonly dirty = new Set<string>();
  private readonly serial = new KeyedLock();
  private built: Promise<void> | undefined;
  private rebuilding: Promise<void> | undefined;
  private scannedAt = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly catalog: Catalog,
    private readonly options: { rescanMs?: number; onRescanError?: (error: unknown) => void } = {},
  ) {
    this.graph = new ManifestGraph(driver);
  }

  /** A write changed what `name` holds: it is read again before the next answer. */
  touch(name: string): void {
    this.dirty.add(name);
  }

  /** The index, brought up to date with this process's writes. */
  async current(): Promise<UsageIndex> {
    this.built ??= this.rebuild();
    await this.built;
    const rescan = this.options.rescanMs ?? 0;
    if (rescan > 0 && Date.now() - this.scannedAt >= rescan && !this.rebuilding) {
      this.rebuilding = this.rebuild()
        .catch((error: unknown) => this.options.onRescanError?.(error))
        .finally(() => (this.rebuilding = undefined));
    }
    await this.serial.run('refresh', async () => {
      const names = [...this.dirty];
      this.dirty.clear();
      const contents = await mapLimit(names, PARALLEL, (name) => this.read(name));
      for (const [at, name] of names.entries()) this.index.set(name, contents[at]);
    });
    return this.index;
  }

  async totals(): Promise<UsageTotals & { scannedAt: string }> {
    const index = await this.current();
    return { ...index.totals(), scannedAt: new Date(this.scannedAt).toISOString() };
  }

  /** Figures for the repositories `include` accepts (all when absent), and the namespaces they are in. */
  async report(include?: (name: string) => boolean): Promise<UsageReport> {
    const index = await this.current();
    const repositories: RepositoryUsage[] = [];
    const namespaces = new Set<string>();
    for (const name of [...index.names()].sort()) {
      if (include && !include(name)) continue;
      const usage = index.repository(name)!;
      repositories.push(usage);
      namespaces.add(usage.namespace);
    }
    return {
      scannedAt: new Date(this.scannedAt).toISOString(),
      total: index.totals(),
      repositories,
      namespaces: [...namespaces].sort().map((name) => index.namespace(name)!),
    };
  }

  /** Reads every repository into a new index, then puts it in place of the old one. */
  private async rebuild(): Promise<void> {
    const started = Date.now();
    const names = await this.catalog.all();
    const contents = await mapLimit(names, PARALLEL, (name) => this.read(name));
    await this.serial.run('refresh', async () => {
      const fresh = new UsageIndex((digest) => this.sizes.get(digest) ?? 0);
      for (const [at, name] of names.entries()) fresh.set(name, contents[at]);
      this.index = fresh;
      this.scannedAt = started;
    });
  }

  /** What one repository holds now; undefined when it is gone. */
  private async read(name: string): Promise<RepositoryContent | undefined> {
    const [revisions, tagNames] = await Promise.all([
      digestFolders(this.driver, paths.revisionsRoot(name)),
      listIfPresent(this.driver, paths.tagsRoot(name)),
    ]);
    const tags = tagNames.filter(isValidTag).length;
    // A repository left with no manifest (only layers, or emptied by deletes) is listed with 0 bytes.
    if (revisions.length === 0 && tags === 0 && !(await this.catalog.exists(name))) return undefined;
    const digests = new Set<string>(revisions);
    await mapLimit(revisions, PARALLEL, async (revision) => {
      const references = await this.graph.references(revision);
      for (const digest of [...(references?.blobs ?? []), ...(references?.manifests ?? [])]) digests.add(digest);
    });
    await this.learnSizes(digests);
    return { digests, tags, manifests: revisions.length };
  }

  /**
   * Stored sizes of digests not seen before (content never changes). A missing blob counts 0
   * and is looked for again next time.
   */
  async learnSizes(digests: Iterable<string>): Promise<void> {
    const unknown = [...digests].filter((digest) => !this.sizes.has(digest));
    await mapLimit(unknown, PARALLEL, async (digest) => {
      const parsed = parseDigest(digest);
      if (!parsed.ok) return;
      try {
        const info = await this.driver.stat(paths.blobData(parsed.digest));
        if (!info.isDir) this.sizes.set(digest, info.size);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    });
  }

  /** The size of content about to be stored (a manifest being pushed), known without a stat. */
  noteSize(digest: string, size: number): void {
    this.sizes.set(digest, size);
  }
}

/**
 * What one repository's manifests need, read from its links and manifests: the revisions, the
 * configs, layers and index children they name, and each one's stored size; the tag count. Its
 * caches (manifest references, sizes) are kept for the process: content never changes under
 * its digest. A blob found missing counts 0 and is looked for again next time.
 */
import { DIGEST_ALGORITHMS, isValidTag, parseDigest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import type { Catalog } from '../catalog.js';
import { ManifestGraph } from '../gc/graph.js';
import { mapLimit } from '../gc/scan.js';
import { listIfPresent } from '../links.js';
import type { UsageRecord } from './usage-store.js';

/** Storage calls kept in flight while reading a repository. */
const PARALLEL = 16;

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

export class UsageReader {
  private readonly sizes = new Map<string, number>();
  private readonly graph: ManifestGraph;

  constructor(
    private readonly driver: StorageDriver,
    private readonly catalog: Catalog,
  ) {
    this.graph = new ManifestGraph(driver);
  }

  /** What `name` holds now; undefined when it is not a repository (any more). */
  async read(name: string): Promise<UsageRecord | undefined> {
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
    const blobs = new Map<string, number>();
    for (const digest of digests) blobs.set(digest, this.size(digest));
    return { blobs, tags, manifests: revisions.length };
  }

  /** The stored size of a digest as last learnt; 0 when unknown or missing. */
  size(digest: string): number {
    return this.sizes.get(digest) ?? 0;
  }

  /** Stored sizes of digests not seen before. */
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

  /** A size known without a stat: content about to be stored (a manifest being pushed), or read from a record. */
  noteSize(digest: string, size: number): void {
    if (size > 0) this.sizes.set(digest, size);
  }
}

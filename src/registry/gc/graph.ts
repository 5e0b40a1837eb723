/**
 * The reference graph as garbage collection walks it, inside one repository: a manifest keeps its
 * config and layers, its children when it is an index (recursively), and the manifests of the
 * repository whose `subject` it is (its referrers: signatures, SBOMs), recursively too.
 */
import { parseDigest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { referencesOf, type References } from './references.js';
import type { RepositoryScan } from './scan.js';

export interface WalkListener {
  /** A manifest reached; `references` is undefined when its bytes are missing from storage. */
  manifest?(digest: string, references: References | undefined): void;
}

export class ManifestGraph {
  /**
   * Content never changes under its digest, so what was read stays true; a manifest found
   * missing is not remembered, since a writer may store it again before the next look.
   */
  private readonly cache = new Map<string, References>();

  constructor(private readonly driver: StorageDriver) {}

  async references(digest: string): Promise<References | undefined> {
    const cached = this.cache.get(digest);
    if (cached) return cached;
    const parsed = parseDigest(digest);
    if (!parsed.ok) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.driver.getContent(paths.blobData(parsed.digest));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const references = referencesOf(bytes);
    this.cache.set(digest, references);
    return references;
  }

  /**
   * Adds to `reached` every digest reachable from `roots` (manifest digests) in the scanned
   * repository; returns the manifests visited, roots included.
   */
  async walk(
    scan: RepositoryScan,
    roots: Iterable<string>,
    reached: Set<string>,
    listener: WalkListener = {},
  ): Promise<Set<string>> {
    const visited = new Set<string>();
    const visit = async (digest: string): Promise<void> => {
      if (visited.has(digest)) return;
      visited.add(digest);
      reached.add(digest);
      const references = await this.references(digest);
      listener.manifest?.(digest, references);
      if (references) {
        for (const blob of references.blobs) reached.add(blob);
        for (const child of references.manifests) reached.add(child);
        for (const child of references.manifests) await visit(child);
      }
      // Referrers stay with their subject; only those the repository still stores count.
      const referrers = scan.referrers.get(digest);
      if (referrers) {
        for (const referrer of [...referrers.keys()].sort()) {
          if (scan.revisions.has(referrer)) await visit(referrer);
        }
      }
    };
    for (const root of roots) await visit(root);
    return visited;
  }
}

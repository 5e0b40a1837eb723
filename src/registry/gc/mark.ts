/**
 * The mark phase: which blobs and manifests every repository still needs.
 *
 * Kept manifests are every revision (Distribution's default), or with `deleteUntagged` those a
 * tag names plus those written within the grace period. From each kept manifest the walk reaches
 * its config, layers, index children and referrers (graph.ts). Apart from that mark set, a blob
 * is young, and kept, when its data, or a `_layers` link to it, was written at or after the
 * threshold (the run's start minus the grace period: an upload or mount not yet referenced by a
 * manifest), or when a write in progress declared it in an intent (protocol.ts).
 *
 * The rest is the candidate set: blobs older than the threshold that nothing needs, and with
 * `deleteUntagged`, the old untagged revision links. The sweep (sweep.ts) re-checks them before
 * deleting anything.
 */
import type { StorageDriver } from '../../storage/driver.js';
import { forEachPaced } from '../../storage/pace.js';
import type { ManifestGraph } from './graph.js';
import { readIntents } from './protocol.js';
import { scanBlobs, scanRepository, type RepositoryScan, type StoredBlob } from './scan.js';

export interface MarkOptions {
  deleteUntagged: boolean;
  /** Milliseconds since the epoch, on the storage's clock: what was written since is young. */
  threshold: number;
  /** One line of Distribution's `garbage-collect` output. */
  emit: (line: string) => void;
  signal?: AbortSignal;
}

export interface MarkResult {
  repositories: string[];
  scans: Map<string, RepositoryScan>;
  /** Kept manifests and everything they reach: Distribution's mark set. */
  marked: Set<string>;
  /** Kept manifests, by repository. */
  kept: Map<string, Set<string>>;
  /** Digests kept though nothing references them: young links and blobs, writes in progress. */
  young: Set<string>;
  /** With deleteUntagged: manifest digest → the repositories whose revision link of it goes. */
  untagged: Map<string, string[]>;
  blobs: Map<string, StoredBlob>;
  /** Blobs to delete: digest → size in bytes. */
  candidates: Map<string, number>;
  /** `name@digest` of revision links whose manifest bytes are missing from storage. */
  missing: string[];
}

export function emptyScan(name: string): RepositoryScan {
  return { name, revisions: new Map(), tags: new Map(), layers: new Map(), referrers: new Map(), phantomTags: [] };
}

/** Manifests that are kept in one repository before any walk. */
export function rootsOf(scan: RepositoryScan, deleteUntagged: boolean, threshold: number): string[] {
  if (!deleteUntagged) return [...scan.revisions.keys()].sort();
  const roots = new Set<string>();
  for (const { digest } of scan.tags.values()) if (scan.revisions.has(digest)) roots.add(digest);
  for (const [digest, mtime] of scan.revisions) if (mtime >= threshold) roots.add(digest);
  return [...roots].sort();
}

export async function mark(
  driver: StorageDriver,
  repositories: string[],
  graph: ManifestGraph,
  options: MarkOptions,
): Promise<MarkResult> {
  const { deleteUntagged, threshold, emit } = options;
  const result: MarkResult = {
    repositories,
    scans: new Map(),
    marked: new Set(),
    kept: new Map(),
    young: new Set(),
    untagged: new Map(),
    blobs: new Map(),
    candidates: new Map(),
    missing: [],
  };

  // Writes in progress keep what they declare. Read before the walk (so untagged revisions they
  // rely on are not listed) and again after it (so the newest are seen too).
  const addIntents = async () => {
    for (const intent of await readIntents(driver)) {
      for (const digest of intent.digests) result.young.add(digest);
      await graph.walk(
        result.scans.get(intent.repository) ?? emptyScan(intent.repository),
        intent.manifests,
        result.young,
      );
    }
  };
  await addIntents();

  for (const name of repositories) {
    options.signal?.throwIfAborted();
    emit(name);
    const scan = await scanRepository(driver, name);
    result.scans.set(name, scan);
    const kept = await graph.walk(scan, rootsOf(scan, deleteUntagged, threshold), result.marked, {
      manifest(digest, references) {
        emit(`${name}: marking manifest ${digest} `);
        if (!references) {
          if (scan.revisions.has(digest)) result.missing.push(`${name}@${digest}`);
          return;
        }
        for (const blob of [...references.blobs, ...references.manifests]) emit(`${name}: marking blob ${blob}`);
      },
    });
    result.kept.set(name, kept);
    for (const [digest, mtime] of scan.layers) if (mtime >= threshold) result.young.add(digest);
    if (deleteUntagged) {
      for (const digest of [...scan.revisions.keys()].sort()) {
        if (kept.has(digest) || result.young.has(digest)) continue;
        emit(`manifest eligible for deletion: ${digest}`);
        const names = result.untagged.get(digest) ?? [];
        names.push(name);
        result.untagged.set(digest, names);
      }
    }
  }
  await addIntents();

  options.signal?.throwIfAborted();
  result.blobs = await scanBlobs(driver);
  await forEachPaced(result.blobs, ([digest, blob]) => {
    if (result.marked.has(digest)) return;
    if (blob.mtime >= threshold || result.young.has(digest)) result.young.add(digest);
    else result.candidates.set(digest, blob.size);
  });
  return result;
}

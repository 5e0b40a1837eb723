/**
 * The sweep phase: delete what the mark found unneeded, without racing the writers.
 *
 *   1. Write the run's tombstone naming every digest it may delete (protocol.ts).
 *   2. Re-scan: every repository again, and every intent. Whatever was written since the run
 *      started (links newer than the threshold, which is at or before the start) and whatever a
 *      write in progress declares is kept, with all it reaches.
 *   3. Delete, in an order that never leaves a link to missing bytes: untagged revision links
 *      (with their tag-history and referrer links), then for each swept blob its `_layers`
 *      links, then its bytes. Deletions go in batches of about BATCH_MS; after each, the run
 *      moves its epoch on (writers that waited for the batch go on) and reads the intents
 *      again, so the next batch keeps what those writers rely on. Nothing is deleted once the
 *      run has failed to renew its run file in time (liveness.ts).
 *   4. Remove the tombstone.
 */
import { isValidName, isValidTag, parseDigest, type Digest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import { forEachPaced, sortPaced } from '../../storage/pace.js';
import * as paths from '../../storage/paths.js';
import type { Catalog } from '../catalog.js';
import { deleteIfPresent, listIfPresent } from '../links.js';
import type { ManifestGraph } from './graph.js';
import { emptyScan, type MarkResult } from './mark.js';
import type { RunHeartbeat } from './liveness.js';
import { readIntents, removeTombstone, writeTombstone } from './protocol.js';
import { scanRepository, type RepositoryScan } from './scan.js';

/** A batch of deletions lasts about this long; a writer that meets the sweep waits for one batch. */
export const BATCH_MS = 500;

export interface SweepOptions {
  run: string;
  threshold: number;
  /** The run's renewals: its epoch moves on after each batch, and it says whether deleting is still safe. */
  heartbeat: RunHeartbeat;
  emit: (line: string) => void;
  signal?: AbortSignal;
  /** Told each repository a deletion changed (a revision or a layer link removed). */
  changed?: (name: string) => void;
}

export interface SweepResult {
  /** Candidates (blobs, and untagged revision links) that the re-scan found needed after all. */
  keptByRescan: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Revision links of untagged manifests removed. */
  manifestsDeleted: number;
  layerLinksDeleted: number;
  /** Why the sweep stopped before the end, if it did; what is left waits for the next run. */
  stoppedEarly?: string;
}

interface Rescan {
  /** Blobs (and manifest bytes) that must stay. */
  blobs: Set<string>;
  /** `name\0digest` of revision links that must stay. */
  revisions: Set<string>;
  scans: Map<string, RepositoryScan>;
  /** Intents already taken into account. */
  intents: Set<string>;
}

const revisionKey = (name: string, digest: string) => `${name}\u0000${digest}`;

async function rescan(
  driver: StorageDriver,
  catalog: Catalog,
  graph: ManifestGraph,
  marked: MarkResult,
  doomed: Set<string>,
  threshold: number,
): Promise<Rescan> {
  const intents = await readIntents(driver);
  const keep: Rescan = {
    blobs: new Set(),
    revisions: new Set(),
    scans: new Map(),
    intents: new Set(intents.map((intent) => intent.id)),
  };
  // What a write in progress relies on stays, whichever repository it names.
  for (const intent of intents) for (const digest of [...intent.digests, ...intent.manifests]) keep.blobs.add(digest);
  const names = new Set<string>();
  await forEachPaced(await catalog.all(), (name) => names.add(name));
  for (const intent of intents) if (isValidName(intent.repository)) names.add(intent.repository);
  for (const name of names) {
    const scan = await scanRepository(driver, name); // empty for a repository an intent names first
    keep.scans.set(name, scan);
    const before = marked.scans.get(name) ?? emptyScan(name);
    // A link is new when it was written since the start (its time is at or after the
    // threshold) or since the mark read it (its time changed, or the mark did not see it).
    const isNew = (mtime: number, seen: number | undefined) => mtime >= threshold || mtime !== seen;
    const roots = new Set<string>();
    for (const [digest, mtime] of scan.revisions) {
      if (isNew(mtime, before.revisions.get(digest))) roots.add(digest);
      // A revision link the mark did not plan to delete keeps its bytes, whatever its age.
      if (doomed.has(digest) && !marked.untagged.get(digest)?.includes(name)) roots.add(digest);
    }
    for (const [tag, { digest, mtime }] of scan.tags) {
      const seen = before.tags.get(tag);
      if (isNew(mtime, seen?.digest === digest ? seen.mtime : undefined)) roots.add(digest);
    }
    for (const [subject, links] of scan.referrers) {
      for (const [digest, mtime] of links)
        if (isNew(mtime, before.referrers.get(subject)?.get(digest))) roots.add(digest);
    }
    const reached = new Set<string>();
    for (const intent of intents) {
      if (intent.repository !== name) continue;
      for (const digest of [...intent.digests, ...intent.manifests]) reached.add(digest);
      for (const digest of intent.manifests) roots.add(digest);
    }
    await graph.walk(scan, roots, reached);
    for (const digest of reached) {
      keep.blobs.add(digest);
      keep.revisions.add(revisionKey(name, digest));
    }
    for (const [digest, mtime] of scan.layers) if (isNew(mtime, before.layers.get(digest))) keep.blobs.add(digest);
  }
  // Bytes written since the start (a blob deleted and uploaded again meanwhile).
  for (const digest of marked.candidates.keys()) {
    const parsed = parseDigest(digest);
    if (!parsed.ok) continue;
    try {
      const info = await driver.stat(paths.blobData(parsed.digest));
      if (info.modTime.getTime() >= threshold) keep.blobs.add(digest);
    } catch (error) {
      if (!isNotFound(error)) throw error; // gone already: nothing to keep
    }
  }
  return keep;
}

/** Keeps what intents written since the last look rely on, with all their manifests reach. */
async function keepNewIntents(driver: StorageDriver, graph: ManifestGraph, keep: Rescan): Promise<void> {
  for (const intent of await readIntents(driver)) {
    if (keep.intents.has(intent.id)) continue;
    keep.intents.add(intent.id);
    const reached = new Set([...intent.digests, ...intent.manifests]);
    await graph.walk(keep.scans.get(intent.repository) ?? emptyScan(intent.repository), intent.manifests, reached);
    for (const digest of reached) {
      keep.blobs.add(digest);
      keep.revisions.add(revisionKey(intent.repository, digest));
    }
  }
}

/** Tag-history entries (`tags/<tag>/index/<alg>/<hex>`) of one repository: digest → tags. */
async function tagHistory(driver: StorageDriver, name: string): Promise<Map<string, string[]>> {
  const history = new Map<string, string[]>();
  for (const tag of (await listIfPresent(driver, paths.tagsRoot(name))).filter(isValidTag)) {
    const index = `${paths.tagFolder(name, tag)}/index`;
    for (const algorithm of await listIfPresent(driver, index)) {
      for (const hex of await listIfPresent(driver, `${index}/${algorithm}`)) {
        const parsed = parseDigest(`${algorithm}:${hex}`);
        if (parsed.ok) history.set(parsed.digest.value, [...(history.get(parsed.digest.value) ?? []), tag]);
      }
    }
  }
  return history;
}

/** Entries keyed by digest, in digest order. */
function byDigest([a]: [string, unknown], [b]: [string, unknown]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function folderOf(link: string): string {
  return link.replace(/\/link$/, '');
}

export async function sweep(
  driver: StorageDriver,
  catalog: Catalog,
  graph: ManifestGraph,
  marked: MarkResult,
  options: SweepOptions,
): Promise<SweepResult> {
  const result: SweepResult = {
    keptByRescan: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    manifestsDeleted: 0,
    layerLinksDeleted: 0,
  };
  const doomed = new Set<string>();
  for (const digests of [marked.candidates.keys(), marked.untagged.keys()])
    await forEachPaced(digests, (digest) => doomed.add(digest));
  if (doomed.size === 0) return result;

  await writeTombstone(driver, options.run, doomed);
  try {
    const keep = await rescan(driver, catalog, graph, marked, doomed, options.threshold);
    let batchStarted = performance.now();
    /** Called before each deletion; ends a batch when it has lasted long enough. */
    const mayDelete = async (): Promise<boolean> => {
      if (options.signal?.aborted) result.stoppedEarly = 'stopped: the server is closing';
      else if (performance.now() - batchStarted > BATCH_MS) {
        await options.heartbeat.advance();
        await keepNewIntents(driver, graph, keep);
        batchStarted = performance.now();
      }
      if (!result.stoppedEarly && !options.heartbeat.mayDelete())
        result.stoppedEarly = 'stopped: the run file was not renewed in time, so writers may have stopped waiting';
      return result.stoppedEarly === undefined;
    };

    // Untagged revision links first, so no revision ever names missing bytes.
    const keptRevisions = new Set<string>();
    const histories = new Map<string, Map<string, string[]>>();
    for (const [value, names] of await sortPaced([...marked.untagged], byDigest)) {
      const digest = parseDigest(value);
      if (!digest.ok) continue;
      for (const name of names) {
        if (!(await mayDelete())) return result;
        if (keep.revisions.has(revisionKey(name, value))) {
          keptRevisions.add(value);
          result.keptByRescan++;
          options.emit(`${name}: manifest kept, written to since the mark: ${value}`);
          continue;
        }
        if (!histories.has(name)) histories.set(name, await tagHistory(driver, name));
        await deleteRevision(
          driver,
          name,
          digest.digest,
          keep.scans.get(name) ?? emptyScan(name),
          histories.get(name)!,
        );
        options.changed?.(name);
        result.manifestsDeleted++;
      }
    }

    // The repositories linking each candidate, read once (not one pass over every repository per blob).
    const holders = new Map<string, Set<string>>();
    for (const scans of [marked.scans, keep.scans]) {
      await forEachPaced(scans, ([name, scan]) => {
        for (const digest of scan.layers.keys()) {
          if (!marked.candidates.has(digest)) continue;
          const names = holders.get(digest) ?? new Set<string>();
          names.add(name);
          holders.set(digest, names);
        }
      });
    }
    for (const [value, size] of await sortPaced([...marked.candidates], byDigest)) {
      const digest = parseDigest(value);
      if (!digest.ok) continue;
      if (!(await mayDelete())) return result;
      if (keep.blobs.has(value) || keptRevisions.has(value)) {
        result.keptByRescan++;
        options.emit(`blob kept, written to since the mark: ${value}`);
        continue;
      }
      for (const name of holders.get(value) ?? []) {
        if (await deleteIfPresent(driver, folderOf(paths.layerLink(name, digest.digest)))) {
          result.layerLinksDeleted++;
          options.changed?.(name);
        }
      }
      if (await deleteIfPresent(driver, paths.blobFolder(digest.digest))) {
        result.blobsDeleted++;
        result.bytesFreed += size;
      }
    }
    return result;
  } finally {
    await removeTombstone(driver, options.run);
  }
}

/** Removes one untagged manifest from one repository: revision link, tag history, referrer links. */
async function deleteRevision(
  driver: StorageDriver,
  name: string,
  digest: Digest,
  scan: RepositoryScan,
  history: Map<string, string[]>,
): Promise<void> {
  await deleteIfPresent(driver, paths.revisionFolder(name, digest));
  for (const tag of history.get(digest.value) ?? []) {
    await deleteIfPresent(driver, folderOf(paths.tagIndexLink(name, tag, digest)));
  }
  for (const [subject, links] of scan.referrers) {
    const parsed = parseDigest(subject);
    if (parsed.ok && links.has(digest.value)) {
      await deleteIfPresent(driver, folderOf(paths.referrerLink(name, parsed.digest, digest)));
    }
  }
}

/**
 * The protocol that lets garbage collection sweep while clients push and pull, in one Berth
 * process or in several that share a storage folder. It rests on two kinds of small files under
 * `_berth/gc/` (storage/paths.ts), never on an in-process lock:
 *
 * - An intent is written by a writer (upload completion, blob mount, manifest PUT) BEFORE it
 *   checks that what it relies on exists, and removed after its last write. It says "I rely on
 *   these digests".
 * - A tombstone is written by a sweeping GC run BEFORE its re-scan, and removed after its last
 *   deletion. It says "I may delete these digests".
 *
 * Each side writes its own file first and reads the other side's second (the store-then-load
 * pattern of Dekker's mutual exclusion). So for any writer and any sweep, at least one sees the
 * other: either the sweep's re-scan finds the intent and keeps its digests, or the writer finds
 * the tombstone, waits until it is gone, and only then checks what exists (finding a swept blob
 * missing, and refusing or re-creating it, instead of trusting a check made before the sweep).
 * docs/garbage-collection.md walks through each race this closes.
 *
 * Both files carry times on the storage's clock (their modification time): a tombstone older
 * than TOMBSTONE_LEASE_MS belongs to a run that died, and writers stop waiting for it; a sweep
 * therefore deletes nothing once half of that lease has passed since it wrote its tombstone.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { deleteIfPresent, listIfPresent } from '../links.js';

/** A writer waits at most this long for one tombstone; a sweep deletes only within half of it. */
export const TOMBSTONE_LEASE_MS = 10 * 60_000;
/**
 * Intents older than this are leftovers of a process that died mid-write; a run removes them.
 * Far above the longest write (which includes waiting out a tombstone), so no live intent goes.
 */
export const INTENT_MAX_AGE_MS = 60 * 60_000;
/** A writer polls a tombstone that names its digests at this pace, backing off to the maximum. */
const WAIT_FIRST_MS = 5;
const WAIT_MAX_MS = 200;

export interface Intent {
  id: string;
  repository: string;
  /** Every digest the write relies on: these are kept whatever else holds. */
  digests: string[];
  /** Those of them that are manifests already stored: what they reference is kept as well. */
  manifests: string[];
}

interface Tombstone {
  run: string;
  digests: string[];
}

/** The writer's side: wraps each write that makes a blob or manifest reachable. */
export class ReferenceGuard {
  /** Tombstones never change once written, so each is read once per process. */
  private readonly tombstones = new Map<string, Set<string>>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly leaseMs = TOMBSTONE_LEASE_MS,
  ) {}

  /**
   * Runs `work` (which checks that `digests` exist, then writes the links that reference them)
   * under an intent, after any sweep that may delete one of `digests` has finished. `work` must
   * do its existence checks itself: only checks made inside it are protected.
   */
  async protect<T>(
    repository: string,
    digests: readonly Digest[],
    work: () => Promise<T>,
    manifests: readonly Digest[] = [],
  ): Promise<T> {
    const id = randomUUID();
    const intent: Intent = {
      id,
      repository,
      digests: [...new Set(digests.map((digest) => digest.value))],
      manifests: [...new Set(manifests.map((digest) => digest.value))],
    };
    await this.driver.putContent(paths.gcIntent(id), JSON.stringify(intent));
    try {
      await this.waitForSweeps(intent.digests);
      return await work();
    } finally {
      // A leftover intent only keeps some bytes a while longer; a later run removes it.
      await deleteIfPresent(this.driver, paths.gcIntent(id)).catch(() => undefined);
    }
  }

  /** Returns once no live tombstone names any of `digests` (or after one lease at most). */
  private async waitForSweeps(digests: string[]): Promise<void> {
    const deadline = Date.now() + this.leaseMs;
    let pause = WAIT_FIRST_MS;
    while ((await this.sweeping(digests)) && Date.now() < deadline) {
      await sleep(pause);
      pause = Math.min(pause * 2, WAIT_MAX_MS);
    }
  }

  /** Whether a live tombstone names one of `digests`. */
  async sweeping(digests: readonly string[]): Promise<boolean> {
    const runs = await listIfPresent(this.driver, paths.GC_TOMBSTONES);
    for (const cached of this.tombstones.keys()) if (!runs.includes(cached)) this.tombstones.delete(cached);
    for (const run of runs) {
      const named = await this.tombstone(run);
      if (named && digests.some((digest) => named.has(digest))) return true;
    }
    return false;
  }

  /** The digests a live tombstone names; undefined when it is gone or stale. */
  private async tombstone(run: string): Promise<Set<string> | undefined> {
    try {
      const info = await this.driver.stat(paths.gcTombstone(run));
      if (Date.now() - info.modTime.getTime() > this.leaseMs) return undefined;
      let named = this.tombstones.get(run);
      if (!named) {
        const parsed = JSON.parse((await this.driver.getContent(paths.gcTombstone(run))).toString('utf8')) as Tombstone;
        named = new Set(parsed.digests);
        this.tombstones.set(run, named);
      }
      return named;
    } catch (error) {
      // Gone meanwhile; or not JSON, so not written by a run (runs write tombstones atomically).
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }
}

// The collector's side ---------------------------------------------------------------------

/** Writes a run's tombstone; returns the local time just before, from which its lease counts. */
export async function writeTombstone(driver: StorageDriver, run: string, digests: Iterable<string>): Promise<number> {
  const writtenAt = Date.now();
  const tombstone: Tombstone = { run, digests: [...digests] };
  await driver.putContent(paths.gcTombstone(run), JSON.stringify(tombstone));
  return writtenAt;
}

export async function removeTombstone(driver: StorageDriver, run: string): Promise<void> {
  await deleteIfPresent(driver, paths.gcTombstone(run));
}

/** Every intent present now (those removed while being read are skipped). */
export async function readIntents(driver: StorageDriver): Promise<Intent[]> {
  const intents: Intent[] = [];
  for (const id of await listIfPresent(driver, paths.GC_INTENTS)) {
    try {
      const parsed = JSON.parse((await driver.getContent(paths.gcIntent(id))).toString('utf8')) as Partial<Intent>;
      intents.push({
        id,
        repository: typeof parsed.repository === 'string' ? parsed.repository : '',
        digests: Array.isArray(parsed.digests) ? parsed.digests.filter((d) => typeof d === 'string') : [],
        manifests: Array.isArray(parsed.manifests) ? parsed.manifests.filter((d) => typeof d === 'string') : [],
      });
    } catch (error) {
      // Gone since the listing (the write finished), or not ours to read: nothing to keep for it.
      if (!isNotFound(error) && !(error instanceof SyntaxError)) throw error;
    }
  }
  return intents;
}

/** Marks the start of a run with a file; its modification time is the run's start, S. */
export async function startRun(driver: StorageDriver, run: string, details: Record<string, unknown>): Promise<Date> {
  await driver.putContent(paths.gcRun(run), JSON.stringify({ run, ...details }));
  return (await driver.stat(paths.gcRun(run))).modTime;
}

export async function endRun(driver: StorageDriver, run: string): Promise<void> {
  await deleteIfPresent(driver, paths.gcRun(run));
}

export interface Leftovers {
  intents: number;
  tombstones: number;
  runs: number;
}

/**
 * Removes what dead processes left: intents older than INTENT_MAX_AGE_MS, tombstones and run
 * files older than twice the lease (no live run keeps either that long).
 */
export async function removeLeftovers(driver: StorageDriver, leaseMs = TOMBSTONE_LEASE_MS): Promise<Leftovers> {
  const now = Date.now();
  const sweep = async (folder: string, maxAge: number): Promise<number> => {
    let removed = 0;
    for (const name of await listIfPresent(driver, folder)) {
      const path = `${folder}/${name}`;
      try {
        const info = await driver.stat(path);
        if (now - info.modTime.getTime() > maxAge && (await deleteIfPresent(driver, path))) removed++;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return removed;
  };
  return {
    intents: await sweep(paths.GC_INTENTS, Math.max(INTENT_MAX_AGE_MS, 2 * leaseMs)),
    tombstones: await sweep(paths.GC_TOMBSTONES, 2 * leaseMs),
    runs: await sweep(paths.GC_RUNS, 2 * leaseMs),
  };
}

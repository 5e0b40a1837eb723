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
 * A writer waits for a sweep only while it may still delete what the writer relies on, and at most
 * a few seconds: a live sweep re-reads the intents after every batch of deletions (a batch lasts
 * about BATCH_MS) and says so by moving its epoch on (liveness.ts), so a writer waits for the one
 * batch that may have missed its intent; a dead sweep (its process gone from this host, or its
 * run file no longer renewed) deletes nothing more, so nobody waits for it. A writer that waited
 * for a live sweep keeps its intent until that sweep ends, since its links are written after the
 * sweep's re-scan. docs/garbage-collection.md gives the bound and why it is safe.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import { forEachPaced } from '../../storage/pace.js';
import * as paths from '../../storage/paths.js';
import { deleteIfPresent, listIfPresent } from '../links.js';
import { DEAD_AFTER_MS, processGone, readRunState } from './liveness.js';

/**
 * Intents older than this are leftovers of a process that died mid-write; a run removes them.
 * Far above the longest write, so no live intent goes.
 */
export const INTENT_MAX_AGE_MS = 60 * 60_000;
/** The longest a writer waits on garbage collection; past it the write answers 503 (retry). */
export const MAX_WAIT_MS = 10_000;
/** A writer polls a tombstone that names its digests at this pace, backing off to the maximum. */
const WAIT_FIRST_MS = 5;
const WAIT_MAX_MS = 200;
/** How often a writer that waited for a sweep looks whether it has ended, to remove its intent. */
const LINGER_POLL_MS = 500;

/** A write that a sweep kept waiting past MAX_WAIT_MS: nothing was written; the client retries. */
export class GcWaitError extends Error {
  constructor(readonly runs: string[]) {
    super(
      `garbage collection is deleting content this write relies on; nothing was written, retry in a few seconds (runs ${runs.join(', ')})`,
    );
    this.name = 'GcWaitError';
  }
}

export interface Intent {
  id: string;
  repository: string;
  /** Every digest the write relies on: these are kept whatever else holds. */
  digests: string[];
  /**
   * Those of them that are manifests (the one a PUT writes, an index's children): what they reach
   * in the repository, references and referrers, is kept as well.
   */
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
    private readonly maxWaitMs = MAX_WAIT_MS,
  ) {}

  /**
   * Runs `work` (which checks that `digests` exist, then writes the links that reference them)
   * under an intent, once no live sweep may still delete one of `digests` without having seen
   * the intent. `work` must do its existence checks itself: only checks made inside it are
   * protected.
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
    let passed: string[] = [];
    try {
      passed = await this.waitForSweeps(intent.digests);
      return await work();
    } finally {
      // A sweep that went on past this write re-reads intents, not links: keep the intent for it.
      if (passed.length > 0) this.linger(id, passed);
      // A leftover intent only keeps some bytes a while longer; a later run removes it.
      else await deleteIfPresent(this.driver, paths.gcIntent(id)).catch(() => undefined);
    }
  }

  /**
   * Returns once every live sweep whose tombstone names one of `digests` has finished a batch of
   * deletions after this writer's intent was written (so every later deletion sees the intent),
   * or is dead; returns the live sweeps it waited for. Throws GcWaitError after maxWaitMs.
   */
  private async waitForSweeps(digests: string[]): Promise<string[]> {
    const began = performance.now();
    const watched = new Map<string, { epoch: number; beat: number; changedAt: number }>();
    const passed = new Set<string>();
    let pause = WAIT_FIRST_MS;
    for (;;) {
      const blocking: string[] = [];
      for (const run of await this.naming(digests)) {
        if (passed.has(run)) continue;
        const state = await readRunState(this.driver, run);
        // No run file: the run has ended (it removes its tombstone first) or died long ago.
        if (!state || processGone(state)) continue;
        const now = performance.now();
        const seen = watched.get(run);
        if (!seen) watched.set(run, { epoch: state.epoch, beat: state.beat, changedAt: now });
        else if (state.epoch > seen.epoch) {
          passed.add(run);
          continue;
        } else if (state.beat !== seen.beat) {
          seen.beat = state.beat;
          seen.changedAt = now;
        } else if (now - seen.changedAt > DEAD_AFTER_MS) continue; // not renewed: it deletes no more
        blocking.push(run);
      }
      if (blocking.length === 0) return [...passed];
      if (performance.now() - began > this.maxWaitMs) throw new GcWaitError(blocking);
      await sleep(pause);
      pause = Math.min(pause * 2, WAIT_MAX_MS);
    }
  }

  /** Removes an intent once none of `runs` is sweeping any more (in the background). */
  private linger(id: string, runs: string[]): void {
    const check = async () => {
      const sweeping = await listIfPresent(this.driver, paths.GC_TOMBSTONES);
      const live = await Promise.all(
        runs.filter((run) => sweeping.includes(run)).map((run) => readRunState(this.driver, run)),
      );
      if (live.some((state) => state && !processGone(state))) {
        setTimeout(() => void check().catch(() => undefined), LINGER_POLL_MS).unref();
        return;
      }
      await deleteIfPresent(this.driver, paths.gcIntent(id));
    };
    setTimeout(() => void check().catch(() => undefined), LINGER_POLL_MS).unref();
  }

  /** The runs whose tombstone names one of `digests`. */
  private async naming(digests: readonly string[]): Promise<string[]> {
    const runs = await listIfPresent(this.driver, paths.GC_TOMBSTONES);
    for (const cached of this.tombstones.keys()) if (!runs.includes(cached)) this.tombstones.delete(cached);
    const naming: string[] = [];
    for (const run of runs) {
      const named = await this.tombstone(run);
      if (named && digests.some((digest) => named.has(digest))) naming.push(run);
    }
    return naming;
  }

  /** The digests a tombstone names; undefined when it is gone. */
  private async tombstone(run: string): Promise<Set<string> | undefined> {
    const cached = this.tombstones.get(run);
    if (cached) return cached;
    try {
      const parsed = JSON.parse((await this.driver.getContent(paths.gcTombstone(run))).toString('utf8')) as Tombstone;
      // A sweep of 100,000 blobs names as many: built in slices, as a request waits on it.
      const named = new Set<string>();
      await forEachPaced(parsed.digests, (digest) => named.add(digest));
      this.tombstones.set(run, named);
      return named;
    } catch (error) {
      // Gone meanwhile; or not JSON, so not written by a run (runs write tombstones atomically).
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }
}

// The collector's side ---------------------------------------------------------------------

/** Writes a run's tombstone (after its run file, which must stay renewed while it exists). */
export async function writeTombstone(driver: StorageDriver, run: string, digests: Iterable<string>): Promise<void> {
  const tombstone: Tombstone = { run, digests: [...digests] };
  await driver.putContent(paths.gcTombstone(run), JSON.stringify(tombstone));
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

export interface Leftovers {
  intents: number;
  tombstones: number;
  runs: number;
}

/** Now on the storage's clock: the modification time of a file written for the purpose. */
export async function storageNow(driver: StorageDriver): Promise<number> {
  await driver.putContent(paths.GC_CLOCK, new Date().toISOString());
  return (await driver.stat(paths.GC_CLOCK)).modTime.getTime();
}

/**
 * Removes what dead processes left: the run file and tombstone of every dead run (its process
 * gone from this host, or its run file not renewed for twice DEAD_AFTER_MS on the storage's
 * clock), tombstones without a run file (a run writes its run file first and removes it last),
 * and intents older than INTENT_MAX_AGE_MS. `now` is on the storage's clock; `self` is the
 * caller's own run.
 */
export async function removeLeftovers(driver: StorageDriver, now: number, self?: string): Promise<Leftovers> {
  const removed: Leftovers = { intents: 0, tombstones: 0, runs: 0 };
  const age = async (path: string): Promise<number | undefined> => {
    try {
      return now - (await driver.stat(path)).modTime.getTime();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
  const runs = new Set(await listIfPresent(driver, paths.GC_RUNS));
  for (const run of runs) {
    if (run === self) continue;
    const state = await readRunState(driver, run);
    const stale = (await age(paths.gcRun(run))) ?? 0;
    if (!(state && processGone(state)) && stale <= 2 * DEAD_AFTER_MS) continue;
    if (await deleteIfPresent(driver, paths.gcTombstone(run))) removed.tombstones++;
    if (await deleteIfPresent(driver, paths.gcRun(run))) removed.runs++;
    runs.delete(run);
  }
  for (const run of await listIfPresent(driver, paths.GC_TOMBSTONES)) {
    if (run === self || runs.has(run)) continue;
    // Listed before the run file was read: a run that started since has its run file by now.
    if ((await readRunState(driver, run)) === undefined && (await deleteIfPresent(driver, paths.gcTombstone(run))))
      removed.tombstones++;
  }
  for (const id of await listIfPresent(driver, paths.GC_INTENTS)) {
    const stale = await age(paths.gcIntent(id));
    if (stale !== undefined && stale > INTENT_MAX_AGE_MS && (await deleteIfPresent(driver, paths.gcIntent(id))))
      removed.intents++;
  }
  return removed;
}

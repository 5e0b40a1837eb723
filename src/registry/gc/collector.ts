/**
 * One garbage collection run: mark (mark.ts), then, unless it is a dry run, sweep (sweep.ts).
 * Used by `berth garbage-collect` offline, and online by the scheduler and the admin endpoint;
 * the same protocol makes both safe while other processes serve the storage.
 *
 * The run prints Distribution's `garbage-collect` lines through `emit`, and logs one line of
 * figures (what it found and freed) through the logger.
 */
import { gcMetrics } from '../../metrics/families.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { forEachPaced, sortPaced } from '../../storage/pace.js';
import { KeyedLock } from '../keyed-lock.js';
import { compareBytes } from '../tags.js';
import type { RetentionReport } from '../policies/retention.js';
import type { Registry } from '../registry.js';
import { ManifestGraph } from './graph.js';
import { StorageLease } from './lock.js';
import { mark } from './mark.js';
import { removePhantomTags } from './phantom-tags.js';
import { RunHeartbeat } from './liveness.js';
import { removeLeftovers, storageNow, type Leftovers } from './protocol.js';
import { sweep, type SweepResult } from './sweep.js';

export interface GcOptions {
  /** Report what would be deleted; change nothing on storage (not even coordination files). */
  dryRun?: boolean;
  /** Also remove manifests no tag reaches (keeping index children and referrers of kept ones). */
  deleteUntagged?: boolean;
  /** Unreferenced blobs and untagged manifests younger than this are kept. */
  gracePeriodMs: number;
  /** Receives each line of Distribution-style output. */
  emit?: (line: string) => void;
  /** Aborting stops the run before its next deletion. */
  signal?: AbortSignal;
  /**
   * Runs once the run is registered and before marking, to drop references whose bytes this run
   * should free (the pull-through cache's expiry and size cap: registry/proxy/expiry.ts).
   */
  beforeMark?: (step: { dryRun: boolean; emit: (line: string) => void; signal?: AbortSignal }) => Promise<unknown>;
}

export interface GcReport {
  run: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  gracePeriodMs: number;
  startedAt: string;
  durationMs: number;
  repositories: number;
  /** Manifest revisions kept, summed over repositories. */
  manifestsKept: number;
  /** Digests in the mark set (kept manifests and all they reference). */
  blobsMarked: number;
  /** Unreferenced blobs kept because they are younger than the grace period or in a write. */
  blobsYoung: number;
  blobsEligible: number;
  bytesEligible: number;
  /** Untagged revision links eligible for deletion (with deleteUntagged). */
  manifestsEligible: number;
  keptByRescan: number;
  blobsDeleted: number;
  bytesFreed: number;
  manifestsDeleted: number;
  layerLinksDeleted: number;
  /** `name@digest` of revisions whose manifest bytes are missing (left as they are). */
  missingManifests: string[];
  leftoversRemoved: Leftovers;
  /** Tag folders without a current link (left by a crash) that were removed. */
  phantomTagsRemoved: number;
  stoppedEarly?: string;
  /** What the step before marking reported (the pull-through cache's expiry), when there was one. */
  beforeMark?: unknown;
  /** With retention policies, the retention run that went before (docs/policies.md). */
  retention?: RetentionReport;
}

/** A duration as Go prints one ("24h0m0s", "1.5s", "0s"), as Distribution's users read them. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Counts a run in the metrics (src/metrics/families.ts): its result, time and what it freed. */
async function countRun(dryRun: boolean, run: () => Promise<GcReport>): Promise<GcReport> {
  const labels = { dryrun: String(dryRun) };
  const started = performance.now();
  try {
    const report = await run();
    gcMetrics.runs.inc({ ...labels, result: 'completed' });
    gcMetrics.bytesFreed.inc(report.bytesFreed);
    gcMetrics.blobsDeleted.inc(report.blobsDeleted);
    gcMetrics.manifestsDeleted.inc(report.manifestsDeleted);
    return report;
  } catch (error) {
    gcMetrics.runs.inc({ ...labels, result: 'failed' });
    throw error;
  } finally {
    gcMetrics.duration.observe(labels, (performance.now() - started) / 1000);
  }
}

export class GarbageCollector {
  private readonly serial = new KeyedLock();
  private readonly lease: StorageLease;

  constructor(
    private readonly registry: Registry,
    private readonly logger?: Logger,
  ) {
    this.lease = new StorageLease(registry.driver);
  }

  /**
   * Runs once, after any run of this process in progress. A non-dry run throws GcBusyError
   * when another process holds the storage lease.
   */
  collect(options: GcOptions): Promise<GcReport> {
    return this.serial.run('gc', () => countRun(options.dryRun ?? false, () => this.collectOnce(options)));
  }

  private async collectOnce(options: GcOptions): Promise<GcReport> {
    if (options.dryRun) return this.collectNow(options);
    const lease = await this.lease.acquire();
    try {
      return await this.collectNow(options);
    } finally {
      await lease.release();
    }
  }

  /** Removes what dead runs and writers left (at start-up); not in a dry run's world. */
  async removeLeftovers(): Promise<Leftovers> {
    const driver = this.registry.driver;
    return removeLeftovers(driver, await storageNow(driver));
  }

  private async collectNow(options: GcOptions): Promise<GcReport> {
    const driver = this.registry.driver;
    const emit = options.emit ?? (() => undefined);
    const dryRun = options.dryRun ?? false;
    const deleteUntagged = options.deleteUntagged ?? false;
    const run = randomUUID();
    const began = Date.now();
    // The start S on the storage's clock (a dry run writes nothing, so it uses the local clock).
    const started = dryRun
      ? undefined
      : await RunHeartbeat.start(driver, run, { pid: process.pid, host: hostname(), deleteUntagged });
    const start = started?.start ?? new Date();
    const heartbeat = started?.heartbeat;
    try {
      const leftoversRemoved = dryRun
        ? { intents: 0, tombstones: 0, runs: 0 }
        : await removeLeftovers(driver, start.getTime(), run);
      const threshold = start.getTime() - options.gracePeriodMs;
      const expired = await options.beforeMark?.({ dryRun, emit, signal: options.signal });
      const graph = new ManifestGraph(driver);
      const repositories = await this.registry.catalog.all();
      const marked = await mark(driver, repositories, graph, {
        deleteUntagged,
        threshold,
        emit,
        signal: options.signal,
      });

      let manifestsEligible = 0;
      await forEachPaced(marked.untagged.values(), (names) => (manifestsEligible += names.length));
      let bytesEligible = 0;
      await forEachPaced(marked.candidates.values(), (size) => (bytesEligible += size));
      let blobsYoung = 0;
      await forEachPaced(marked.blobs.keys(), (digest) => {
        if (!marked.marked.has(digest) && !marked.candidates.has(digest)) blobsYoung++;
      });
      emit('');
      emit(
        `${marked.marked.size} blobs marked, ${marked.candidates.size} blobs and ${manifestsEligible} manifests eligible for deletion`,
      );
      if (options.emit) {
        for (const digest of await sortPaced([...marked.candidates.keys()], compareBytes))
          emit(`blob eligible for deletion: ${digest}`);
      }
      for (const missing of marked.missing)
        emit(`warning: ${missing}: manifest revision whose bytes are missing from storage`);
      if (blobsYoung > 0) {
        emit(
          `${blobsYoung} unreferenced blobs kept: written within the grace period (${formatDuration(options.gracePeriodMs)}) or by a write in progress`,
        );
      }

      const phantomTagsRemoved = dryRun
        ? 0
        : await removePhantomTags(driver, this.registry.tags, marked.scans.values(), start.getTime());
      // Repositories whose figures a deletion of this run changed, for storage accounting.
      const changed = new Set<string>();
      if (phantomTagsRemoved > 0)
        for (const scan of marked.scans.values()) if (scan.phantomTags.length > 0) changed.add(scan.name);
      if (phantomTagsRemoved > 0) emit(`removed ${phantomTagsRemoved} half-written tags (no current link)`);

      let swept: SweepResult = {
        keptByRescan: 0,
        blobsDeleted: 0,
        bytesFreed: 0,
        manifestsDeleted: 0,
        layerLinksDeleted: 0,
      };
      if (dryRun) {
        emit(
          `dry run: ${marked.candidates.size} blobs (${bytesEligible} bytes) and ${manifestsEligible} manifests would be deleted`,
        );
      } else {
        swept = await sweep(driver, this.registry.catalog, graph, marked, {
          run,
          threshold,
          heartbeat: heartbeat!,
          emit,
          signal: options.signal,
          changed: (name) => changed.add(name),
        });
        emit(
          `deleted ${swept.blobsDeleted} blobs (${swept.bytesFreed} bytes freed), ${swept.manifestsDeleted} manifests and ${swept.layerLinksDeleted} layer links`,
        );
        if (swept.keptByRescan > 0) emit(`${swept.keptByRescan} candidates kept: written to while the run went on`);
        if (swept.stoppedEarly) emit(`${swept.stoppedEarly}; the rest waits for the next run`);
      }

      for (const name of changed) await this.registry.accounting.changed(name);

      let manifestsKept = 0;
      await forEachPaced(marked.kept, ([name, kept]) => {
        const revisions = marked.scans.get(name)?.revisions;
        for (const digest of kept) if (revisions?.has(digest)) manifestsKept++;
      });
      const report: GcReport = {
        ...(expired === undefined ? {} : { beforeMark: expired }),
        run,
        dryRun,
        deleteUntagged,
        gracePeriodMs: options.gracePeriodMs,
        startedAt: start.toISOString(),
        durationMs: Date.now() - began,
        repositories: repositories.length,
        manifestsKept,
        blobsMarked: marked.marked.size,
        blobsYoung,
        blobsEligible: marked.candidates.size,
        bytesEligible,
        manifestsEligible,
        ...swept,
        missingManifests: marked.missing,
        leftoversRemoved,
        phantomTagsRemoved,
      };
      this.logger?.info({ gc: report }, dryRun ? 'garbage collection dry run finished' : 'garbage collection finished');
      return report;
    } finally {
      await heartbeat?.end();
    }
  }
}

/**
 * Online garbage collection inside the server: runs on demand (the admin endpoint) and, when
 * `berth.gc.interval` is set, on a schedule. Runs never overlap in a process; a scheduled run
 * that finds another process collecting skips its turn. Closing the server stops a run before
 * its next deletion and waits for it.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Registry } from '../registry.js';
import type { Retention } from '../policies/retention.js';
import { GarbageCollector, type GcOptions, type GcReport } from './collector.js';
import { GcBusyError } from './lock.js';

export interface GcSettings {
  /** Milliseconds between scheduled runs; 0 for none. */
  intervalMs: number;
  gracePeriodMs: number;
  deleteUntagged: boolean;
  /** Scheduled runs only report. */
  dryRun: boolean;
}

export function gcSettings(config: Config): GcSettings {
  const gc = config.berth.gc;
  return {
    intervalMs: gc.interval,
    gracePeriodMs: gc.graceperiod,
    deleteUntagged: gc.deleteuntagged,
    dryRun: gc.dryrun,
  };
}

export interface GcStatus {
  running: boolean;
  settings: GcSettings;
  runs: number;
  last?: GcReport;
  lastError?: string;
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days). */
const MAX_TIMER = 2 ** 31 - 1;

export class OnlineGc {
  readonly collector: GarbageCollector;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private cleaning: Promise<void> | undefined;
  private runs = 0;
  private last: GcReport | undefined;
  private lastError: string | undefined;

  constructor(
    registry: Registry,
    readonly settings: GcSettings,
    private readonly logger: Logger,
    /** Run by every collection before it marks (the pull-through cache's expiry). */
    private readonly beforeMark?: GcOptions['beforeMark'],
    /** Evaluated before each run when policies are configured (`berth.retention.withgc`). */
    private readonly retention?: Retention,
  ) {
    this.collector = new GarbageCollector(registry, logger);
  }

  start(): void {
    if (this.abort.signal.aborted) return;
    // What a run killed mid-sweep left (its tombstone, run file) goes at start-up, not at the next run.
    const cleaning = this.collector.removeLeftovers().then(
      (removed) => {
        if (removed.tombstones + removed.runs + removed.intents > 0)
          this.logger.info({ leftoversRemoved: removed }, 'garbage collection: removed what dead runs left');
      },
      (error: unknown) => this.logger.warn({ err: error }, 'garbage collection: could not remove leftovers'),
    );
    this.cleaning = cleaning;
    if (this.settings.intervalMs > 0 && !this.timer) this.schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight, this.cleaning]);
  }

  /** One run now (after any in progress in this process), with the configured settings unless overridden. */
  run(overrides: { dryRun?: boolean; deleteUntagged?: boolean } = {}): Promise<GcReport> {
    if (this.abort.signal.aborted) return Promise.reject(new Error('the server is closing'));
    const dryRun = overrides.dryRun ?? false;
    const running = this.collectAfterRetention(dryRun, overrides.deleteUntagged).then(
      (report) => {
        this.runs++;
        this.last = report;
        this.lastError = undefined;
        return report;
      },
      (error: unknown) => {
        if (!(error instanceof GcBusyError)) this.lastError = (error as Error).message;
        throw error;
      },
    );
    this.inFlight.add(running);
    void running.catch(() => undefined).finally(() => this.inFlight.delete(running));
    return running;
  }

  /** Retention first (its deletions are what the collection then frees), then the collection. */
  private async collectAfterRetention(dryRun: boolean, deleteUntagged: boolean | undefined): Promise<GcReport> {
    const retention = this.retention?.enabled
      ? await this.retention.run({ dryRun, signal: this.abort.signal })
      : undefined;
    const report = await this.collector.collect({
      dryRun,
      deleteUntagged: deleteUntagged ?? this.settings.deleteUntagged,
      gracePeriodMs: this.settings.gracePeriodMs,
      signal: this.abort.signal,
      beforeMark: this.beforeMark,
    });
    return retention ? { ...report, retention } : report;
  }

  status(): GcStatus {
    const status: GcStatus = { running: this.inFlight.size > 0, settings: this.settings, runs: this.runs };
    if (this.last) status.last = this.last;
    if (this.lastError) status.lastError = this.lastError;
    return status;
  }

  private schedule(): void {
    this.timer = setTimeout(
      () => {
        this.run({ dryRun: this.settings.dryRun })
          .catch((error: unknown) => {
            if (error instanceof GcBusyError)
              this.logger.info(
                { holder: error.holder },
                'scheduled garbage collection skipped: another process is collecting',
              );
            else if (!this.abort.signal.aborted)
              this.logger.error({ err: error }, 'scheduled garbage collection failed; retrying at the next interval');
          })
          .finally(() => {
            if (this.timer) this.schedule();
          });
      },
      Math.min(this.settings.intervalMs, MAX_TIMER),
    );
    this.timer.unref();
  }
}

/**
 * Whether a garbage collection run is alive, as every process sharing the storage can tell:
 * a run renews its run file (`_berth/gc/runs/<run>`) every HEARTBEAT_MS with a new beat, and
 * moves its epoch on after each batch of deletions (sweep.ts). Another process treats it as dead
 * when its process is gone from this host, or when its beat has not changed for DEAD_AFTER_MS
 * measured on the watcher's own clock (so clocks of different hosts never meet).
 *
 * A run deletes only while it renews: once two of its renewals start more than
 * DELETE_WINDOW_MS apart (a stalled process, a storage that stopped answering), it deletes
 * nothing more, ever. DELETE_WINDOW_MS is half of DEAD_AFTER_MS, so a run stops deleting before
 * any watcher may decide it is dead.
 */
import { hostname } from 'node:os';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';

/** How often a run renews its run file. */
export const HEARTBEAT_MS = 1_000;
/** A run deletes only while its renewals start less than this apart. */
export const DELETE_WINDOW_MS = 2_500;
/** A watcher treats a run whose beat has not changed for this long as dead. */
export const DEAD_AFTER_MS = 5_000;

export interface RunState {
  run: string;
  pid: number;
  host: string;
  /** Batches of deletions the run has finished (0 until its first batch ends). */
  epoch: number;
  /** Renewal counter: changes at every renewal. */
  beat: number;
}

const HOST = hostname();

/** Whether a process with this id runs on this host (one we may not signal still runs). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run of this host whose process is gone: dead for certain, whatever its run file says. */
export function processGone(state: Pick<RunState, 'host' | 'pid'>): boolean {
  return state.host === HOST && Number.isSafeInteger(state.pid) && state.pid > 0 && !processAlive(state.pid);
}

/** A run's file, or undefined when it is gone (the run ended) or not a run file Berth wrote. */
export async function readRunState(driver: StorageDriver, run: string): Promise<RunState | undefined> {
  try {
    const parsed = JSON.parse((await driver.getContent(paths.gcRun(run))).toString('utf8')) as Partial<RunState>;
    return {
      run,
      pid: Number(parsed.pid),
      host: String(parsed.host),
      epoch: Number(parsed.epoch ?? 0),
      beat: Number(parsed.beat ?? 0),
    };
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The renewing side: one per run, from its start to its end. */
export class RunHeartbeat {
  private beat = 0;
  private epochValue = 0;
  private lastStart = performance.now();
  private lapsed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly driver: StorageDriver,
    readonly run: string,
    private readonly details: Record<string, unknown>,
  ) {
    this.timer = setInterval(() => void this.renew().catch(() => undefined), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Writes the run file and starts renewing it; `start` is its first modification time (S). */
  static async start(
    driver: StorageDriver,
    run: string,
    details: Record<string, unknown> = {},
  ): Promise<{ heartbeat: RunHeartbeat; start: Date }> {
    const heartbeat = new RunHeartbeat(driver, run, details);
    try {
      await heartbeat.renew();
      return { heartbeat, start: (await driver.stat(paths.gcRun(run))).modTime };
    } catch (error) {
      clearInterval(heartbeat.timer);
      throw error;
    }
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** Ends a batch of deletions: writers waiting for it go on once this returns. */
  async advance(): Promise<void> {
    this.epochValue++;
    await this.renew();
  }

  /** Whether the run may still delete: it has renewed within the window, every time. */
  mayDelete(): boolean {
    if (performance.now() - this.lastStart > DELETE_WINDOW_MS) this.lapsed = true;
    return !this.lapsed;
  }

  /** Stops renewing and removes the run file. */
  async end(): Promise<void> {
    clearInterval(this.timer);
    await this.chain.catch(() => undefined);
    try {
      await this.driver.delete(paths.gcRun(this.run));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Renewals run one after another, each writing the current epoch. */
  private renew(): Promise<void> {
    const next = this.chain.then(async () => {
      const started = performance.now();
      this.beat++;
      const state: RunState = { run: this.run, pid: process.pid, host: HOST, epoch: this.epochValue, beat: this.beat };
      await this.driver.putContent(paths.gcRun(this.run), JSON.stringify({ ...this.details, ...state }));
      if (started - this.lastStart > DELETE_WINDOW_MS) this.lapsed = true;
      this.lastStart = started;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}

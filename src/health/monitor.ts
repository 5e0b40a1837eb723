/**
 * Periodic health checks, as Distribution runs them (its `health` package): each check runs
 * every `interval`, and becomes failing once it has failed `threshold` times in a row (0 and 1:
 * the first failure); one success makes it healthy again. Berth also runs every check once at
 * start, so a registry that starts broken is known at once rather than an interval later.
 *
 * `failures()` is Distribution's status map: check name → error message, empty when healthy. It
 * is the body of `/debug/health`, and while it is not empty the registry API answers 503
 * (src/http/pipeline.ts).
 */
import type { Logger } from 'pino';
import type { Check } from './checks.js';

export interface PeriodicCheck {
  /** Distribution's name: `storagedriver_<driver>`, the file path, the URI, the address. */
  name: string;
  check: Check;
  intervalMs: number;
  threshold: number;
  /** Longest a run may take before it counts as failed. */
  timeoutMs: number;
}

interface CheckState {
  failuresInARow: number;
  error?: string;
  running: boolean;
  timer?: NodeJS.Timeout;
}

export class HealthMonitor {
  private readonly states = new Map<string, CheckState>();
  private failing = 0;

  constructor(
    private readonly checks: readonly PeriodicCheck[],
    private readonly logger: Logger,
  ) {
    for (const check of checks) this.states.set(check.name, { failuresInARow: 0, running: false });
  }

  /** Whether every check passes (true with no checks configured). */
  get healthy(): boolean {
    return this.failing === 0;
  }

  get configured(): boolean {
    return this.checks.length > 0;
  }

  failures(): Record<string, string> {
    const failures: Record<string, string> = {};
    for (const [name, state] of this.states) if (state.error !== undefined) failures[name] = state.error;
    return failures;
  }

  start(): void {
    for (const check of this.checks) {
      const state = this.states.get(check.name)!;
      void this.run(check, state);
      state.timer = setInterval(() => void this.run(check, state), check.intervalMs);
      state.timer.unref();
    }
  }

  stop(): void {
    for (const state of this.states.values()) clearInterval(state.timer);
  }

  /** Runs one check now (a run still going is not doubled). */
  private async run(check: PeriodicCheck, state: CheckState): Promise<void> {
    if (state.running) return;
    state.running = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        check.check(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${check.timeoutMs} ms`)), check.timeoutMs);
        }),
      ]);
      this.update(check, state, undefined);
    } catch (error) {
      this.update(check, state, (error as Error).message || String(error));
    } finally {
      clearTimeout(timer);
      state.running = false;
    }
  }

  private update(check: PeriodicCheck, state: CheckState, error: string | undefined): void {
    const wasFailing = state.error !== undefined;
    if (error === undefined) {
      state.failuresInARow = 0;
      state.error = undefined;
    } else {
      state.failuresInARow++;
      if (state.failuresInARow >= Math.max(1, check.threshold)) state.error = error;
    }
    const isFailing = state.error !== undefined;
    if (isFailing === wasFailing) return;
    this.failing += isFailing ? 1 : -1;
    if (isFailing) this.logger.error({ check: check.name, error }, 'health check failing');
    else this.logger.info({ check: check.name }, 'health check passing again');
  }
}

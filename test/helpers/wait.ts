/**
 * Waiting for something to happen, by looking again until it has: a test waits exactly as long
 * as the server takes, instead of a fixed sleep that is too short on a loaded machine and wasted
 * on a quiet one. The deadline is a bound against hangs, not a timing assertion.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Look again this often (default 10 ms). */
  intervalMs?: number;
}

/** Resolves once `check` holds; rejects, naming `what`, when the deadline passes first. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 15_000, intervalMs = 10 }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not the case after ${timeoutMs} ms: ${what}`);
    await sleep(intervalMs);
  }
}

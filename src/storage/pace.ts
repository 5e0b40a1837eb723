/**
 * Keeps long runs of storage calls from holding the event loop. The filesystem driver answers
 * metadata calls synchronously (cheaper than the thread pool, filesystem/driver.ts), so a loop
 * over many of them (a walk of 100,000 repositories, a garbage collection's scan, a purge) never
 * gives the event loop a turn by itself: every `await` resolves at once. Each such call awaits
 * `pace()` first, which hands the event loop a turn (`setImmediate`, after pending I/O) once
 * SLICE_MS have passed since the last turn, and costs a clock read otherwise. A call that went
 * through libuv (an asynchronous file operation) reports with `turned()` that the event loop has
 * just run, so a loop of such calls is not slowed by turns it already gives.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Longest stretch of storage calls between two turns of the event loop. */
export const SLICE_MS = 5;

let lastTurn = performance.now();
/** The turn being waited for: every caller waits for the same one, so one turn frees them all. */
let pending: Promise<void> | undefined;

/** Yields to the event loop when the current stretch has lasted SLICE_MS. */
export function pace(): Promise<void> | undefined {
  if (pending) return pending;
  if (performance.now() - lastTurn < SLICE_MS) return undefined;
  pending = nextTurn().then(() => {
    lastTurn = performance.now();
    pending = undefined;
  });
  return pending;
}

/** Records that the event loop has just had a turn (an asynchronous operation completed). */
export function turned(): void {
  lastTurn = performance.now();
}

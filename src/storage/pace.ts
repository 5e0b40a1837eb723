/**
 * Keeps long runs of storage calls from holding the event loop. The filesystem driver answers
 * metadata calls synchronously (cheaper than the thread pool, filesystem/driver.ts), so a loop
 * over many of them (a walk of 100,000 repositories, a garbage collection's scan, a purge) never
 * gives the event loop a turn by itself: every `await` resolves at once. Each such call awaits
 * `pace()` first, which hands the event loop a turn (`setImmediate`, after pending I/O) once
 * SLICE_MS have passed since the last turn, and costs a clock read otherwise. A call that went
 * through libuv (an asynchronous file operation) reports with `turned()` that the event loop has
 * just run, so a loop of such calls is not slowed by turns it already gives.
 *
 * Work in memory whose size grows with the storage (a collection's loop over every blob it
 * found, sorting every repository name) is held to the same slices with `forEachPaced` and
 * `sortPaced`.
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

/** Items a loop over memory handles between two looks at the clock. */
const CHECK_EVERY = 256;
/** Longest run `sortPaced` sorts in one go (about a millisecond of comparisons). */
const SORT_RUN = 2048;

/**
 * Runs `each` over `items`, giving the event loop a turn whenever the stretch has lasted
 * SLICE_MS: for loops over collections in memory that grow with the storage (every blob a
 * collection found, every repository), which a single turn could not hold at 100,000 items.
 */
export async function forEachPaced<T>(items: Iterable<T>, each: (item: T) => void): Promise<void> {
  let count = 0;
  for (const item of items) {
    if (++count % CHECK_EVERY === 0) await pace();
    each(item);
  }
}

/**
 * `items` sorted by `compare` (stable, as Array.prototype.sort), in a new array: runs of
 * SORT_RUN are sorted one at a time and merged, with turns of the event loop between, where one
 * sort of 100,000 names would hold it for 100 ms or more.
 */
export async function sortPaced<T>(items: readonly T[], compare: (a: T, b: T) => number): Promise<T[]> {
  if (items.length <= SORT_RUN) return [...items].sort(compare);
  let runs: T[][] = [];
  for (let start = 0; start < items.length; start += SORT_RUN) {
    runs.push(items.slice(start, start + SORT_RUN).sort(compare));
    await pace();
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let at = 0; at < runs.length; at += 2) {
      const [left, right] = [runs[at]!, runs[at + 1]];
      merged.push(right ? await mergePaced(left, right, compare) : left);
    }
    runs = merged;
  }
  return runs[0]!;
}

async function mergePaced<T>(left: T[], right: T[], compare: (a: T, b: T) => number): Promise<T[]> {
  const out = new Array<T>(left.length + right.length);
  let [i, j, k] = [0, 0, 0];
  while (i < left.length && j < right.length) {
    // The left item first when equal: the merge keeps the sort stable.
    out[k++] = compare(right[j]!, left[i]!) < 0 ? right[j++]! : left[i++]!;
    if (k % CHECK_EVERY === 0) await pace();
  }
  while (i < left.length) out[k++] = left[i++]!;
  while (j < right.length) out[k++] = right[j++]!;
  return out;
}

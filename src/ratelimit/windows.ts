/**
 * Fixed-window counters in this process's memory, the store of every budget without Redis (and
 * the fallback while Redis does not answer). A key's window starts with its first count and lasts
 * the budget's window, as rate-limiter-flexible's counters in Redis do. Time is read from a
 * clock, `Date.now` unless the embedding program (a test) passes its own to `createBerth`, so a
 * window can be made to end without waiting it out; nothing a client sends reaches it.
 */

/** Milliseconds since the epoch, as `Date.now` gives them. */
export type Clock = () => number;

export interface WindowCount {
  /** Counts in the current window, this one included. */
  consumed: number;
  /** Milliseconds until the window ends (0 when none is open). */
  msLeft: number;
}

export class MemoryWindows {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private nextSweep: number;

  constructor(
    private readonly windowMs: number,
    private readonly clock: Clock = Date.now,
  ) {
    this.nextSweep = clock() + windowMs;
  }

  /** Counts one for `key`, opening a window when none is open. */
  add(key: string): WindowCount {
    const now = this.clock();
    this.sweep(now);
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return { consumed: window.count, msLeft: window.endsAt - now };
  }

  /** Where `key` stands, without counting. */
  peek(key: string): WindowCount {
    const now = this.clock();
    const window = this.windows.get(key);
    if (!window || window.endsAt <= now) return { consumed: 0, msLeft: 0 };
    return { consumed: window.count, msLeft: window.endsAt - now };
  }

  /** Ended windows are dropped once per window length, so memory follows the callers of one window. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    this.nextSweep = now + this.windowMs;
  }
}

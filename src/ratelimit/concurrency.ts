/**
 * Upload requests in flight per caller (`berth.limits.maxconcurrentuploads`): a caller that
 * already sends as many blob bodies as allowed gets 429 for the next one until one finishes.
 * Counted per instance: a request in flight belongs to the process serving it, and a count kept
 * elsewhere would outlive a crashed process.
 */
export class InFlight {
  private readonly active = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Takes a slot for `key`; returns the release function, or undefined when none is free. */
  acquire(key: string): (() => void) | undefined {
    const current = this.active.get(key) ?? 0;
    if (current >= this.max) return undefined;
    this.active.set(key, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(key) ?? 1) - 1;
      if (left <= 0) this.active.delete(key);
      else this.active.set(key, left);
    };
  }

  count(key: string): number {
    return this.active.get(key) ?? 0;
  }
}

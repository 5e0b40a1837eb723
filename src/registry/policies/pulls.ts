/**
 * When each manifest was last pulled, for retention's `keep.pulledwithin` and the age of untagged
 * manifests. A pull only sets an entry in memory (no storage call on the pull's path); every
 * `berth.pulls.flushinterval` the entries are merged into one small file per repository
 * (`_berth/policies/pulls/<name>/_pulled`, digest → time), keeping the later time of what was
 * stored and what is new, so processes sharing the storage add to each other's records. Push
 * times need no record: they are the modification times of the tag and revision links.
 */
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { KeyedLock } from '../keyed-lock.js';

type PullTimes = Map<string, number>;

export class PullRecorder {
  /** Pulls not yet written, by repository. */
  private pending = new Map<string, PullTimes>();
  private timer: NodeJS.Timeout | undefined;
  private readonly serial = new KeyedLock();

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: {
      flushMs?: number;
      /** False records nothing (`berth.pulls.record`). */
      enabled?: boolean;
      now?: () => number;
      onFlushError?: (error: unknown) => void;
    } = {},
  ) {}

  /** Records a pull of `digest` from `name`, in memory. */
  note(name: string, digest: string): void {
    if (this.options.enabled === false) return;
    this.pendingFor(name).set(digest, (this.options.now ?? Date.now)());
  }

  start(): void {
    const every = this.options.flushMs ?? 0;
    if (every <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => this.options.onFlushError?.(error));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Writes what is pending, one repository file at a time. */
  flush(): Promise<void> {
    return this.serial.run('flush', async () => {
      const batch = this.pending;
      this.pending = new Map();
      for (const [name, times] of batch) {
        try {
          const stored = await this.read(name);
          for (const [digest, at] of times) stored.set(digest, Math.max(at, stored.get(digest) ?? 0));
          await this.driver.putContent(paths.pullTimes(name), JSON.stringify(Object.fromEntries(stored)));
        } catch (error) {
          // Kept for the next flush rather than lost.
          const again = this.pendingFor(name);
          for (const [digest, at] of times) again.set(digest, Math.max(at, again.get(digest) ?? 0));
          throw error;
        }
      }
    });
  }

  private pendingFor(name: string): PullTimes {
    let times = this.pending.get(name);
    if (!times) {
      times = new Map();
      this.pending.set(name, times);
    }
    return times;
  }

  /** Last pull time of each manifest of `name` pulled at all: what is stored and what is pending. */
  async pulledAt(name: string): Promise<PullTimes> {
    const times = await this.read(name);
    for (const [digest, at] of this.pending.get(name) ?? []) times.set(digest, Math.max(at, times.get(digest) ?? 0));
    return times;
  }

  private async read(name: string): Promise<PullTimes> {
    let text: string;
    try {
      text = (await this.driver.getContent(paths.pullTimes(name))).toString('utf8');
    } catch (error) {
      if (isNotFound(error)) return new Map();
      throw error;
    }
    const times: PullTimes = new Map();
    try {
      for (const [digest, at] of Object.entries(JSON.parse(text) as Record<string, unknown>))
        if (typeof at === 'number') times.set(digest, at);
    } catch {
      // A damaged record is only a loss of pull times: retention then goes by push times.
    }
    return times;
  }
}

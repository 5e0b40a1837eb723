/**
 * bcrypt checks, off the event loop and a bounded number at a time.
 *
 * bcrypt costs tens of milliseconds of CPU on purpose. Run on the main thread (bcryptjs), a
 * flood of wrong passwords holds the event loop and every other request waits behind it. The
 * native binding (`bcrypt`, prebuilt binaries inside the npm package) runs each check on
 * libuv's thread pool instead. That pool (4 threads unless UV_THREADPOOL_SIZE says otherwise)
 * also does the filesystem driver's appends, so at most `concurrent` checks run at once (one per
 * core beyond the first, at most 2: half the pool stays free for file I/O) and at most `queue`
 * more (64) wait for a turn.
 * Beyond that a check is refused at once with 429 TOOMANYREQUESTS and `Retry-After: 1` rather
 * than queued without end: a client that waits longer than a few seconds for a login has given
 * up anyway, and an endless queue would only turn a flood into memory and latency for everyone.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';

/** The native addon, loaded on the first password checked: a registry without htpasswd never loads it. */
let bcrypt: typeof import('bcrypt') | undefined;
function loadBcrypt(): typeof import('bcrypt') {
  bcrypt ??= createRequire(import.meta.url)('bcrypt') as typeof import('bcrypt');
  return bcrypt;
}
import { RegistryError } from '../../api/errors.js';

export interface PasswordCheckLimits {
  /** Checks running at once on the thread pool. */
  concurrent: number;
  /** Checks waiting for a turn; one more is refused. */
  queue: number;
}

/**
 * One check at once per core beyond the one the event loop needs, and at most 2 (half of libuv's
 * default pool): on a two-core machine one check runs at a time, which checks as many passwords
 * per second as two (the cores are busy either way) and leaves a core to every other request.
 */
export function defaultPasswordCheckLimits(cores = availableParallelism()): PasswordCheckLimits {
  return { concurrent: Math.max(1, Math.min(2, cores - 1)), queue: 64 };
}

/** `$2y$` (what `htpasswd -B` writes) is `$2b$` under another name; the native binding knows only `$2a$`/`$2b$`. */
function nativeForm(hash: string): string {
  return hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}

export class PasswordChecks {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  private readonly limits: PasswordCheckLimits;

  /** Limits not given take their defaults (defaultPasswordCheckLimits). */
  constructor(limits: Partial<PasswordCheckLimits> = {}) {
    const defaults = defaultPasswordCheckLimits();
    this.limits = { concurrent: limits.concurrent ?? defaults.concurrent, queue: limits.queue ?? defaults.queue };
  }

  /** Whether `password` matches the bcrypt `hash`; throws a 429 RegistryError when too many checks wait. */
  async compare(password: string, hash: string): Promise<boolean> {
    await this.turn();
    try {
      return await loadBcrypt().compare(password, nativeForm(hash));
    } finally {
      this.done();
    }
  }

  private turn(): Promise<void> {
    if (this.running < this.limits.concurrent) {
      this.running += 1;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.limits.queue) {
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `too many password checks in progress (${this.limits.concurrent} running, ${this.limits.queue} waiting); retry in a second`,
        { running: this.limits.concurrent, waiting: this.waiting.length },
        { headers: { 'Retry-After': '1' } },
      );
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the finished check's slot to the next one waiting, if any. */
  private done(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}

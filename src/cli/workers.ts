/**
 * Worker processes for `berth serve` (`berth.workers`). The first process listens and serves as
 * usual; it then starts `workers - 1` more processes of the same command and hands each its
 * listening socket (child_process handle passing), so every process accepts connections on the
 * same port and the kernel spreads them. Node runs JavaScript on one thread, so this is how Berth
 * uses more than one core. The first process also keeps the scheduled jobs (upload purging,
 * garbage collection); workers only serve requests.
 *
 * What is per process: the in-memory caches (each is safe on its own, see registry/catalog.ts,
 * registry/tags.ts, registry/manifests/store.ts) and the running hash of an upload (a chunk that
 * lands on another process is stored without hashing, and the digest is computed from the stored
 * bytes once, when the upload finishes: registry/uploads.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { BudgetTable } from '../ratelimit/budgets.js';

/** Set in a worker's environment; its value is the worker's number (1, 2, …). */
export const WORKER_ENV = 'BERTH_WORKER';

const MESSAGE = {
  /** worker → first process: ready for the listening socket. */
  ready: 'berth:worker-ready',
  /** first process → worker: here is the socket (sent with the handle). */
  listen: 'berth:listen',
  /** first process → worker: stop accepting and finish in-flight requests. */
  stop: 'berth:stop',
  /** worker → first process: no longer accepting connections. */
  closed: 'berth:worker-closed',
} as const;

/**
 * How many processes serve: `berth.workers`, or, when it is 0 or absent, one per core but one,
 * and at least one. The core left over runs what a registry's requests also need: the kernel's
 * network and disk work, libuv's thread pool, the clients on the same machine. Each process costs
 * about 100 MB of memory (docs/performance.md).
 *
 * With counters kept per process (rate limits or the concurrent-upload limit without Redis), every
 * extra process would multiply each caller's budget: then the default is one process, and only an
 * explicit `berth.workers` starts more.
 */
export function workerCount(configured: number | undefined, options: { perProcessCounters?: boolean } = {}): number {
  if (configured !== undefined && configured > 0) return configured;
  if (options.perProcessCounters) return 1;
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Whether the configuration counts per caller in each process's memory (docs/rate-limits.md).
 * A `failedlogins` budget alone does not count: it is on by default wherever Berth checks
 * passwords, and giving up every core but one for it would cost more than it saves (each
 * process then allows an address its own budget of wrong passwords).
 */
export function countsPerProcess(config: Config): boolean {
  // In-memory storage is one process's memory: a second process would see a registry of its own.
  if (config.storage.inmemory) return true;
  if (config.redis) return false;
  const { failedlogins: _perProcessIsEnough, ...budgets } = config.berth.ratelimit ?? {
    enabled: false,
    groups: {},
    users: {},
  };
  const rateLimited = new BudgetTable(budgets).enabled;
  return rateLimited || config.berth.limits.maxconcurrentuploads !== undefined;
}

export function isWorker(): boolean {
  return process.env[WORKER_ENV] !== undefined && typeof process.send === 'function';
}

/**
 * In a worker: asks the first process for its listening socket and resolves with it. `onStop`
 * runs once, when the first process asks us to stop or goes away.
 */
export function joinFirstProcess(onStop: () => void): Promise<Server> {
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    onStop();
  };
  process.on('disconnect', stop);
  return new Promise((resolve) => {
    process.on('message', (message: unknown, handle: unknown) => {
      if (message === MESSAGE.listen && handle) resolve(handle as Server);
      if (message === MESSAGE.stop) stop();
    });
    process.send!(MESSAGE.ready);
  });
}

/** In a worker: tells the first process this one accepts no more connections. */
export function reportClosed(): void {
  if (process.connected) process.send!(MESSAGE.closed);
}

/** In the first process: starts and keeps `count` workers sharing `server`'s socket. */
export class WorkerPool {
  private readonly children = new Map<ChildProcess, { closed: boolean }>();
  private stopping = false;
  private restarts = 0;

  constructor(
    private readonly server: Server,
    private readonly count: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (let index = 1; index <= this.count; index++) this.spawn(index);
  }

  /** The worker processes running now (for one metrics scrape over every process). */
  processes(): ChildProcess[] {
    return [...this.children.keys()];
  }

  private spawn(index: number): void {
    // The same command line and node flags (so `--import tsx` and --cpu-prof carry over).
    const child = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, [WORKER_ENV]: String(index) },
      execArgv: process.execArgv,
    });
    const state = { closed: false };
    this.children.set(child, state);
    child.on('message', (message: unknown) => {
      // A worker still starting when the stop was sent missed it (it was not listening for it yet):
      // it is told again once it says it is ready, instead of waiting for a socket forever.
      if (message === MESSAGE.ready) {
        if (this.stopping) child.send(MESSAGE.stop);
        else child.send(MESSAGE.listen, this.server);
      }
      if (message === MESSAGE.closed) state.closed = true;
    });
    child.on('exit', (code, signal) => {
      this.children.delete(child);
      if (this.stopping) return;
      // A crashed worker is replaced, a little later, and not forever.
      this.logger.error({ worker: index, code, signal }, 'worker process exited; starting another');
      if (++this.restarts <= 100) setTimeout(() => this.spawn(index), 1000).unref();
    });
  }

  /**
   * Asks every worker to stop; resolves once each has stopped accepting connections (or after
   * `acceptTimeoutMs`), with a promise that resolves when all have exited.
   */
  async stop(acceptTimeoutMs = 5000): Promise<{ exited: Promise<void> }> {
    this.stopping = true;
    const children = [...this.children.keys()];
    const exited = Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((resolve) => child.once('exit', resolve)),
      ),
    ).then(() => undefined);
    for (const child of children) {
      if (child.connected) child.send(MESSAGE.stop);
      else child.kill('SIGTERM');
    }
    const deadline = Date.now() + acceptTimeoutMs;
    while (Date.now() < deadline && [...this.children.values()].some((state) => !state.closed)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { exited };
  }
}

/**
 * Keeps garbage collection runs from overlapping: one at a time per process (an in-process
 * queue), and, as far as a plain storage driver allows, one at a time across the processes that
 * share the storage (a lease file, renewed while the run lasts).
 *
 * Neither is needed for safety: two overlapping runs each follow the sweep protocol
 * (protocol.ts), and each treats the other's deletions like a client's. The lease only saves
 * the work of a second run, so its check-then-write race is accepted.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { deleteIfPresent } from '../links.js';
import { processGone } from './liveness.js';

/** A lease not renewed for this long belongs to a process that is gone (renewed every third of it). */
export const LEASE_TTL_MS = 15_000;
/** Time for a competing writer's lease to land before ours is read back. */
const SETTLE_MS = 20;

export interface LeaseHolder {
  owner: string;
  pid: number;
  host: string;
  /** ISO time after which the lease is free. */
  expires: string;
}

export class GcBusyError extends Error {
  constructor(readonly holder: LeaseHolder) {
    super(
      `garbage collection is already running (process ${holder.pid} on ${holder.host}, lease until ${holder.expires})`,
    );
    this.name = 'GcBusyError';
  }
}

export interface Lease {
  release(): Promise<void>;
}

export class StorageLease {
  constructor(
    private readonly driver: StorageDriver,
    private readonly ttlMs = LEASE_TTL_MS,
  ) {}

  /** Takes the lease, or throws GcBusyError naming the live holder. */
  async acquire(): Promise<Lease> {
    const current = await this.read();
    // A holder of this host whose process is gone holds nothing, however long its lease runs.
    if (current && Date.parse(current.expires) > Date.now() && !processGone(current)) throw new GcBusyError(current);
    const owner = randomUUID();
    await this.write(owner);
    await sleep(SETTLE_MS);
    const after = await this.read();
    if (after && after.owner !== owner && Date.parse(after.expires) > Date.now() && !processGone(after))
      throw new GcBusyError(after);
    const renewal = setInterval(() => void this.write(owner).catch(() => undefined), Math.max(this.ttlMs / 3, 10));
    renewal.unref();
    return {
      release: async () => {
        clearInterval(renewal);
        const holder = await this.read();
        if (holder?.owner === owner) await deleteIfPresent(this.driver, paths.GC_LOCK);
      },
    };
  }

  private async read(): Promise<LeaseHolder | undefined> {
    try {
      const parsed = JSON.parse((await this.driver.getContent(paths.GC_LOCK)).toString('utf8')) as Partial<LeaseHolder>;
      if (typeof parsed.owner !== 'string' || typeof parsed.expires !== 'string') return undefined;
      return { owner: parsed.owner, pid: Number(parsed.pid), host: String(parsed.host), expires: parsed.expires };
    } catch {
      return undefined; // absent or unreadable: free
    }
  }

  private async write(owner: string): Promise<void> {
    const holder: LeaseHolder = {
      owner,
      pid: process.pid,
      host: hostname(),
      expires: new Date(Date.now() + this.ttlMs).toISOString(),
    };
    await this.driver.putContent(paths.GC_LOCK, JSON.stringify(holder));
  }
}

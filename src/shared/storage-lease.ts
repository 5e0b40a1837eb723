/**
 * A lease held through a small file in storage, for work one process at a time should do among
 * every process sharing the storage (on one machine or several): the holder writes its id, pid,
 * host and an expiry, and renews by claiming again within the TTL. A holder that stops renewing
 * loses it after the TTL, at once on its own machine when its process is gone. Claiming reads,
 * writes and reads back, so two processes rarely both hold it; work guarded by it must stay
 * correct when they do (it saves work, it does not protect data).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isNotFound, type StorageDriver } from '../storage/driver.js';

interface Holder {
  owner: string;
  pid: number;
  host: string;
  expires: number;
}

/** Whether a process of this machine is still running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StorageLease {
  private readonly owner = randomUUID();

  constructor(
    private readonly driver: StorageDriver,
    private readonly path: string,
    private readonly ttlMs: number,
  ) {}

  async claim(): Promise<boolean> {
    const holder = await this.read();
    if (holder && holder.owner !== this.owner && !this.free(holder)) return false;
    const taking = holder?.owner !== this.owner;
    await this.write();
    if (!taking) return true;
    // Another process may have written at the same moment: the file's last writer has it.
    await sleep(20);
    return (await this.read())?.owner === this.owner;
  }

  async release(): Promise<void> {
    if ((await this.read())?.owner !== this.owner) return;
    await this.driver.delete(this.path).catch(() => undefined);
  }

  private free(holder: Holder): boolean {
    if (holder.expires <= Date.now()) return true;
    return holder.host === hostname() && holder.pid !== process.pid && !alive(holder.pid);
  }

  private async read(): Promise<Holder | undefined> {
    try {
      return JSON.parse((await this.driver.getContent(this.path)).toString('utf8')) as Holder;
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  private async write(): Promise<void> {
    const holder: Holder = { owner: this.owner, pid: process.pid, host: hostname(), expires: Date.now() + this.ttlMs };
    await this.driver.putContent(this.path, JSON.stringify(holder));
  }
}

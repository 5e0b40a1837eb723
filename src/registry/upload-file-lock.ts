/**
 * One request at a time per upload across processes, through the storage itself: a `lock` file
 * in the upload's folder, created exclusively (O_EXCL) for the request and removed at its end.
 * Within a process the upload's requests already queue (uploads.ts); this covers the workers of
 * `berth serve` and instances sharing a folder without Redis. A request that finds the lock held
 * by another process is refused at once (UploadBusyError, 409): a client sends the next request
 * of an upload after the previous one's answer, and the lock is released before that answer, so
 * only concurrent requests for one upload (which no client should send) are refused, rather than
 * mixing their bodies.
 *
 * A lock whose holder died is broken: its process is gone from this host, or it was not renewed
 * (the holder rewrites it every RENEW_MS) for STALE_MS by the local clock. Drivers without an
 * exclusive create (S3) skip this lock; Redis serialises there (docs/s3.md).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { errors } from '../api/errors.js';
import { UploadBusyError } from './errors.js';
import { processGone } from './gc/liveness.js';
import { deleteIfPresent } from './links.js';

/** How often a holder rewrites its lock. */
const RENEW_MS = 5_000;
/** A lock not rewritten for this long belongs to a holder that is gone. */
const STALE_MS = 30_000;

interface Holder {
  token: string;
  pid: number;
  host: string;
}

/**
 * Whether the storage itself keeps an upload's requests one at a time across processes, so that
 * uploads need no Redis lock to be safe: a driver with an exclusive create (the lock files here),
 * or in-memory storage, which no other process sees. False for object storage (S3, Azure).
 */
export function storageSerialisesUploads(driver: StorageDriver): boolean {
  return driver.createExclusive !== undefined || driver.name === 'inmemory';
}

export class UploadFileLock {
  constructor(private readonly driver: StorageDriver) {}

  /** Runs `work` holding the upload's lock file; throws UploadBusyError when another holds it. */
  async hold<T>(name: string, uuid: string, work: () => Promise<T>): Promise<T> {
    const create = this.driver.createExclusive?.bind(this.driver);
    if (!create) return work();
    const path = paths.uploadLock(name, uuid);
    const holder: Holder = { token: randomUUID(), pid: process.pid, host: hostname() };
    const text = JSON.stringify(holder);
    if (!(await this.take(create, path, text, uuid))) throw new UploadBusyError(uuid);
    const renewal = setInterval(() => void this.driver.putContent(path, text).catch(() => undefined), RENEW_MS);
    renewal.unref();
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      // Only our own lock: a holder judged dead meanwhile may have been replaced.
      if ((await this.read(path))?.token === holder.token) await deleteIfPresent(this.driver, path);
    }
  }

  private async take(
    create: (path: string, content: string) => Promise<boolean>,
    path: string,
    text: string,
    uuid: string,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (await create(path, text)) return true;
      } catch (error) {
        if (isNotFound(error)) throw errors.uploadUnknown(uuid); // no such upload folder
        throw error;
      }
      if (!(await this.stale(path))) return false;
      await deleteIfPresent(this.driver, path);
    }
    return false;
  }

  private async stale(path: string): Promise<boolean> {
    const holder = await this.read(path);
    if (holder && processGone(holder)) return true;
    try {
      return Date.now() - (await this.driver.stat(path)).modTime.getTime() > STALE_MS;
    } catch (error) {
      if (isNotFound(error)) return true; // released meanwhile: try again
      throw error;
    }
  }

  private async read(path: string): Promise<Holder | undefined> {
    try {
      const parsed = JSON.parse((await this.driver.getContent(path)).toString('utf8')) as Partial<Holder>;
      return { token: String(parsed.token), pid: Number(parsed.pid), host: String(parsed.host) };
    } catch {
      return undefined;
    }
  }
}

/**
 * Upload purging (`storage.maintenance.uploadpurging`): uploads started longer ago than `age`
 * are deleted, every `interval`, as Distribution does. An upload's age comes from its
 * `startedat` file, or from its folder's modification time when that file is missing or
 * unreadable. The first run waits a random part of the interval (at most an hour, as in
 * Distribution) so that registries started together do not all walk the storage at once.
 */
import { isNotFound, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';

export interface PurgeOptions {
  /** Uploads older than this many milliseconds are deleted. */
  age: number;
  /** Report what would be deleted without deleting it. */
  dryRun: boolean;
  now?: Date;
}

export interface PurgedUpload {
  name: string;
  uuid: string;
  startedAt: Date;
}

/** The subset of a logger the purger writes to. */
export interface PurgeLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** The name of a repository's uploads folder ("_uploads"), as paths.ts lays it out. */
const UPLOADS_FOLDER = paths.uploadsRoot('x').slice(paths.repository('x').length + 1);
const MAX_FIRST_DELAY = 3_600_000;
/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer intervals run that often. */
const MAX_TIMER = 2 ** 31 - 1;

/** Every `_uploads` folder below the repositories, as repository names. */
async function repositoriesWithUploads(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  try {
    await driver.walk(paths.REPOSITORIES_ROOT, (info) => {
      if (!info.isDir) return;
      const base = info.path.slice(info.path.lastIndexOf('/') + 1);
      if (base === UPLOADS_FOLDER) {
        names.push(info.path.slice(paths.REPOSITORIES_ROOT.length + 1, -(UPLOADS_FOLDER.length + 1)));
        return 'skip';
      }
      // `_manifests`, `_layers`, `_referrers`: nothing below is an upload or a repository.
      return base.startsWith('_') ? 'skip' : undefined;
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return names;
}

async function startedAt(driver: StorageDriver, name: string, uuid: string): Promise<Date | undefined> {
  try {
    const text = (await driver.getContent(paths.uploadStartedAt(name, uuid))).toString('utf8').trim();
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    return (await driver.stat(paths.uploadFolder(name, uuid))).modTime;
  } catch (error) {
    if (isNotFound(error)) return undefined; // finished or cancelled meanwhile
    throw error;
  }
}

/** Deletes (or, in a dry run, lists) the uploads older than `age`. */
export async function purgeUploads(driver: StorageDriver, options: PurgeOptions): Promise<PurgedUpload[]> {
  const cutoff = (options.now ?? new Date()).getTime() - options.age;
  const purged: PurgedUpload[] = [];
  for (const name of await repositoriesWithUploads(driver)) {
    let uuids: string[];
    try {
      uuids = await driver.list(paths.uploadsRoot(name));
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    for (const uuid of uuids.sort()) {
      const started = await startedAt(driver, name, uuid);
      if (!started || started.getTime() >= cutoff) continue;
      if (!options.dryRun) {
        try {
          await driver.delete(paths.uploadFolder(name, uuid));
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      purged.push({ name, uuid, startedAt: started });
    }
  }
  return purged;
}

/** Runs `purgeUploads` on a schedule until stopped. */
export class UploadPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: { age: number; interval: number; dryRun: boolean },
    private readonly log: PurgeLog,
  ) {}

  start(): void {
    if (this.timer) return;
    const firstDelay = Math.floor(Math.random() * Math.min(this.options.interval, MAX_FIRST_DELAY));
    this.schedule(firstDelay);
  }

  /** Stops the schedule and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async runOnce(): Promise<PurgedUpload[]> {
    const purged = await purgeUploads(this.driver, { age: this.options.age, dryRun: this.options.dryRun });
    for (const upload of purged) {
      this.log.info(
        {
          repository: upload.name,
          uuid: upload.uuid,
          startedAt: upload.startedAt.toISOString(),
          dryRun: this.options.dryRun,
        },
        this.options.dryRun
          ? 'upload purging (dry run): would delete an old upload'
          : 'upload purging: deleted an old upload',
      );
    }
    return purged;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(
      () => {
        this.running = this.runOnce()
          .then(
            () => undefined,
            (error: unknown) => this.log.warn({ err: error }, 'upload purging failed; retrying at the next interval'),
          )
          .finally(() => {
            this.running = undefined;
            if (this.timer) this.schedule(this.options.interval);
          });
      },
      Math.min(delay, MAX_TIMER),
    );
    this.timer.unref();
  }
}

/** Picks the storage driver named in the configuration (schema.ts allows exactly one). */
import type { StorageConfig } from '../config/schema.js';
import type { StorageDriver } from './driver.js';
import { DeferredDriver } from './deferred.js';
import { FilesystemDriver } from './filesystem/driver.js';
import { InMemoryDriver } from './inmemory/driver.js';

export function createDriver(storage: StorageConfig): StorageDriver {
  const s3 = storage.s3;
  if (s3) {
    // The AWS SDK is loaded only by configurations that use it.
    const redirect = !(storage.redirect?.disable ?? false);
    return new DeferredDriver('s3', async () => new (await import('./s3/driver.js')).S3Driver(s3, { redirect }), {
      complete: true,
    });
  }
  if (storage.filesystem) {
    const readOnly = storage.maintenance.readonly?.enabled ?? false;
    return new FilesystemDriver({ ...storage.filesystem, readOnly });
  }
  if (storage.inmemory) return new InMemoryDriver();
  throw new Error(
    'storage: no supported driver configured (Berth supports storage.filesystem, storage.s3 and storage.inmemory)',
  );
}

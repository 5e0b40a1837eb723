/** Picks the storage driver named in the configuration (schema.ts allows exactly one). */
import type { StorageConfig } from '../config/schema.js';
import type { StorageDriver } from './driver.js';
import { DeferredDriver } from './deferred.js';
import { FilesystemDriver } from './filesystem/driver.js';
import { InMemoryDriver } from './inmemory/driver.js';

export function createDriver(storage: StorageConfig): StorageDriver {
  const redirect = !(storage.redirect?.disable ?? false);
  // The cloud SDKs (AWS, Azure) are loaded only by configurations that use them.
  const s3 = storage.s3;
  if (s3) {
    return new DeferredDriver('s3', async () => new (await import('./s3/driver.js')).S3Driver(s3, { redirect }), {
      complete: true,
    });
  }
  const azure = storage.azure;
  if (azure) {
    return new DeferredDriver(
      'azure',
      async () => new (await import('./azure/driver.js')).AzureDriver(azure, { redirect }),
      { complete: true },
    );
  }
  if (storage.filesystem) {
    const readOnly = storage.maintenance.readonly?.enabled ?? false;
    return new FilesystemDriver({ ...storage.filesystem, readOnly });
  }
  if (storage.inmemory) return new InMemoryDriver();
  throw new Error(
    'storage: no supported driver configured (Berth supports storage.filesystem, storage.s3, storage.azure and storage.inmemory)',
  );
}

/** Picks the storage driver named in the configuration (schema.ts allows exactly one). */
import type { StorageConfig } from '../config/schema.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem/driver.js';
import { S3Driver } from './s3/driver.js';

export function createDriver(storage: StorageConfig): StorageDriver {
  if (storage.s3) return new S3Driver(storage.s3, { redirect: !(storage.redirect?.disable ?? false) });
  if (storage.filesystem) return new FilesystemDriver(storage.filesystem);
  throw new Error('storage: no supported driver configured (Berth supports storage.filesystem and storage.s3)');
}

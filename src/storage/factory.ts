/** Picks the storage driver named in the configuration. */
import type { StorageConfig } from '../config/schema.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem/driver.js';

export function createDriver(storage: StorageConfig): StorageDriver {
  if (storage.filesystem) return new FilesystemDriver(storage.filesystem);
  throw new Error('storage: no supported driver configured (Berth supports storage.filesystem)');
}

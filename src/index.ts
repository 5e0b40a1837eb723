/** Berth's public library surface. */
export { createBerth, type Berth } from './app.js';
export { loadConfig, validateConfig, ConfigError } from './config/load.js';
export type { Config } from './config/schema.js';
export { Registry as RegistryService } from './registry/registry.js';
export type { StorageDriver, FileInfo, FileWriter, ByteRange } from './storage/driver.js';
export { FilesystemDriver } from './storage/filesystem/driver.js';
export { S3Driver } from './storage/s3/driver.js';
export { GarbageCollector, type GcOptions, type GcReport } from './registry/gc/collector.js';
export { ERROR_CODES, type ErrorCode, type ErrorBody } from './api/errcodes.js';
export { MediaType } from './api/media-types.js';
export { apiPaths, matchRoute } from './api/routes.js';
// The client library: talks to Berth or any other registry over the API.
export * from './client/index.js';

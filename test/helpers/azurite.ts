/**
 * A throwaway Azurite (Microsoft's Azure Storage emulator, the `azurite` dev dependency) serving
 * Blob Storage on a 127.0.0.1 port, for tests of the Azure storage driver against a real Blob
 * Storage API. Its data lives in a temporary folder (or in memory); `stop()` ends it and removes
 * the folder, and a watchdog does the same if the test process dies first (daemon.ts).
 *
 * Azurite is an npm dependency, so it is there wherever `npm ci` ran: tests need not skip.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { tempDir } from './berth.js';
import { REPO_ROOT } from './berth-process.js';
import { startDaemon } from './daemon.js';
import { freePort } from './tools.js';

/** Azurite's well-known development account (the same on every installation). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface TestAzurite {
  /** The account's Blob endpoint, path-style: http://127.0.0.1:<port>/devstoreaccount1. */
  serviceUrl: string;
  port: number;
  /** Where the blobs are kept (absent with `inMemory`). */
  dir?: string;
  service: BlobServiceClient;
  /** Creates a container with a fresh name (or the given one) and returns its name. */
  createContainer(name?: string): Promise<string>;
  /** A `storage.azure` configuration block for `container`, plus `extra` keys. */
  azureConfig(container: string, extra?: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** Keep blobs in memory rather than in a folder. */
  inMemory?: boolean;
  /** With `inMemory`: megabytes of blob content Azurite holds at most. */
  memoryLimitMiB?: number;
}

const START_BOUND_MS = 30_000;

export async function startAzurite(options: AzuriteOptions = {}): Promise<TestAzurite> {
  const port = await freePort();
  const dir = options.inMemory ? undefined : tempDir('berth-azurite-');
  const storage = dir
    ? ['--location', dir]
    : [
        '--inMemoryPersistence',
        ...(options.memoryLimitMiB ? ['--extentMemoryLimit', String(options.memoryLimitMiB)] : []),
      ];
  const { stop } = await startDaemon(
    join(REPO_ROOT, 'node_modules', '.bin', 'azurite-blob'),
    [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      ...storage,
      // The SDK may speak a newer service version than this Azurite knows; the calls Berth makes
      // are the same in all of them.
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
    ],
    { ready: /successfully listens on/, dir, boundMs: START_BOUND_MS },
  );
  const serviceUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(serviceUrl, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  return {
    serviceUrl,
    port,
    dir,
    service,
    async createContainer(name = `berth-${randomUUID().slice(0, 8)}`) {
      await service.getContainerClient(name).create();
      return name;
    },
    azureConfig(container, extra = {}) {
      return {
        accountname: AZURITE_ACCOUNT,
        accountkey: AZURITE_KEY,
        container,
        serviceurl: serviceUrl,
        ...extra,
      };
    },
    stop,
  };
}

/**
 * The Azure Blob Storage client, built from Distribution's `storage.azure` keys (the Azure SDK for
 * JavaScript), and the settings every other module of the driver reads: the container, the key
 * prefix, retries and the copy polling of `move`.
 */
import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { AzureConfig } from '../../config/schema.js';

export interface AzureSettings {
  container: ContainerClient;
  /** Signs SAS URLs for copies and redirects. */
  credential: StorageSharedKeyCredential;
  /** `rootdirectory` as configured (bucket/keys.ts joins it as Distribution does). */
  rootdirectory: string;
  /** Polls of a pending copy before it is aborted; -1 aborts a copy that is not done at once. */
  copyPollRetries: number;
  copyPollDelayMs: number;
  /** Whether blob downloads may be redirected to SAS URLs (`storage.redirect.disable`). */
  redirect: boolean;
}

/** The endpoint Distribution derives when `serviceurl` is not set. */
export function serviceUrl(config: AzureConfig): string {
  return config.serviceurl ?? `https://${config.accountname}.blob.${config.realm}`;
}

function pipelineOptions(config: AzureConfig): StoragePipelineOptions {
  return {
    retryOptions: {
      ...(config.max_retries === undefined ? {} : { maxTries: config.max_retries + 1 }),
      ...(config.retry_delay === undefined ? {} : { retryDelayInMs: config.retry_delay }),
    },
  };
}

/** The account key of a connection string, which SAS signing needs. */
function sharedKeyOf(service: BlobServiceClient): StorageSharedKeyCredential {
  const credential = service.credential;
  if (!(credential instanceof StorageSharedKeyCredential)) {
    throw new Error('storage.azure.connectionstring: it must hold AccountName and AccountKey');
  }
  return credential;
}

export function azureSettings(config: AzureConfig, options: { redirect: boolean }): AzureSettings {
  let service: BlobServiceClient;
  if (config.connectionstring) {
    service = BlobServiceClient.fromConnectionString(config.connectionstring, pipelineOptions(config));
  } else {
    const credential = new StorageSharedKeyCredential(config.accountname!, config.accountkey!);
    service = new BlobServiceClient(serviceUrl(config), credential, pipelineOptions(config));
  }
  return {
    container: service.getContainerClient(config.container),
    credential: sharedKeyOf(service),
    rootdirectory: config.rootdirectory,
    copyPollRetries: config.copy_status_poll_max_retry,
    copyPollDelayMs: config.copy_status_poll_delay,
    redirect: options.redirect,
  };
}

/**
 * Thin wrappers over the Blob Storage calls the driver makes, on its one container, and the
 * service's ways of saying "no such blob".
 */
import { Readable } from 'node:stream';
import { BlobSASPermissions, generateBlobSASQueryParameters, SASProtocol, type BlobItem } from '@azure/storage-blob';
import { orPathNotFound } from '../driver.js';
import type { IndexStore } from '../bucket/catalog-index.js';
import type { AzureSettings } from './client.js';

export interface BlobHead {
  size: number;
  modTime: Date;
  etag: string;
  /** BlockBlob, AppendBlob or PageBlob. */
  type: string;
}

export interface HierarchyPage {
  blobs: BlobItem[];
  /** Names of the "folders" (prefixes ending in the delimiter). */
  prefixes: string[];
}

/** Blobs deleted at once when a folder goes. */
const DELETE_PARALLEL = 16;
/** Listing page size; the service returns at most 5,000. */
const PAGE_SIZE = 5000;

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
}

function errorCode(error: unknown): string | undefined {
  const rest = error as RestErrorLike | undefined;
  return rest?.code ?? rest?.details?.errorCode;
}

/** "No such blob" (or container), also as a copy's source that cannot be read. */
export function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  if (code === 'BlobNotFound' || code === 'ResourceNotFound' || code === 'CannotVerifyCopySource') return true;
  return (error as RestErrorLike | undefined)?.statusCode === 404 && code !== 'ContainerNotFound';
}

/** The service's answer to a range that starts at or past the end of the blob. */
export function isInvalidRange(error: unknown): boolean {
  return errorCode(error) === 'InvalidRange' || (error as RestErrorLike | undefined)?.statusCode === 416;
}

/** A conditional write that lost a race (If-Match, If-None-Match). */
export function isConditionFailed(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ConditionNotMet' || code === 'BlobAlreadyExists' || (error as RestErrorLike)?.statusCode === 412;
}

/** Runs a call, turning "no such blob" into the driver's PathNotFoundError. */
export function orNotFound<T>(path: string, call: () => Promise<T>): Promise<T> {
  return orPathNotFound(path, isMissing, call);
}

export class Blobs {
  constructor(readonly settings: AzureSettings) {}

  private get container() {
    return this.settings.container;
  }

  async head(name: string): Promise<BlobHead> {
    const properties = await this.container.getBlobClient(name).getProperties();
    return {
      size: properties.contentLength ?? 0,
      modTime: properties.lastModified ?? new Date(0),
      etag: properties.etag ?? '',
      type: properties.blobType ?? 'BlockBlob',
    };
  }

  /**
   * Starts a download of `count` bytes from `offset` (to the end when undefined). The stream is
   * the response body; a broken connection is resumed from where it stopped, of the same blob
   * version only (the SDK's retries send If-Match), so a reader never mixes two contents.
   */
  async get(name: string, offset = 0, count?: number): Promise<{ body: Readable; head: BlobHead }> {
    const response = await this.container.getBlobClient(name).download(offset, count, { maxRetryRequests: 5 });
    const body = response.readableStreamBody;
    return {
      body: body instanceof Readable ? body : body ? Readable.from(body, { objectMode: false }) : Readable.from([]),
      head: {
        size: response.contentLength ?? 0,
        modTime: response.lastModified ?? new Date(0),
        etag: response.etag ?? '',
        type: response.blobType ?? 'BlockBlob',
      },
    };
  }

  async getBuffer(name: string): Promise<Buffer> {
    const { body } = await this.get(name);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Writes a whole block blob in one request (Put Blob), atomically replacing what was there. */
  async put(name: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    await this.container
      .getBlockBlobClient(name)
      .upload(body, body.length, { blobHTTPHeaders: { blobContentType: contentType } });
  }

  /** One page of the direct children below `prefix`, with the continuation for the next. */
  async *hierarchy(prefix: string): AsyncGenerator<HierarchyPage> {
    const pages = this.container.listBlobsByHierarchy('/', { prefix }).byPage({ maxPageSize: PAGE_SIZE });
    for await (const page of pages) {
      yield {
        blobs: page.segment.blobItems,
        prefixes: (page.segment.blobPrefixes ?? []).map((entry) => entry.name),
      };
    }
  }

  /** Every blob below `prefix` (no delimiter), a page at a time, in name order. */
  async *flat(prefix: string, maxPageSize = PAGE_SIZE): AsyncGenerator<BlobItem[]> {
    for await (const page of this.container.listBlobsFlat({ prefix }).byPage({ maxPageSize })) {
      yield page.segment.blobItems;
    }
  }

  /** Deletes blobs, some at once; those already gone count as deleted. */
  async deleteNames(names: readonly string[]): Promise<void> {
    for (let start = 0; start < names.length; start += DELETE_PARALLEL) {
      await Promise.all(
        names.slice(start, start + DELETE_PARALLEL).map((name) => this.container.getBlobClient(name).deleteIfExists()),
      );
    }
  }

  /** Every blob name below a prefix. */
  async namesBelow(prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const page of this.flat(prefix)) for (const item of page) names.push(item.name);
    return names;
  }

  /** A URL that reads the blob for `minutes`, signed with the account key (a SAS). */
  readURL(name: string, minutes: number): string {
    const client = this.container.getBlobClient(name);
    const query = generateBlobSASQueryParameters(
      {
        containerName: this.container.containerName,
        blobName: name,
        permissions: BlobSASPermissions.parse('r'),
        startsOn: new Date(Date.now() - 60_000), // the service's clock may be a little behind
        expiresOn: new Date(Date.now() + minutes * 60_000),
        // Plain HTTP only where the endpoint is (an emulator on a development machine).
        protocol: client.url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
      },
      this.settings.credential,
    ).toString();
    return `${client.url}?${query}`;
  }

  /** The calls the repository index makes, on this container. */
  indexStore(): IndexStore {
    return {
      put: (name, body, contentType) => this.put(name, body, contentType),
      read: async (name) => {
        try {
          return await this.getBuffer(name);
        } catch (error) {
          if (isMissing(error)) return undefined;
          throw error;
        }
      },
      deleteKeys: (names) => this.deleteNames(names),
      keys: (prefix) => this.namePages(prefix),
    };
  }

  private async *namePages(prefix: string): AsyncGenerator<string[]> {
    for await (const page of this.flat(prefix)) yield page.map((item) => item.name);
  }
}

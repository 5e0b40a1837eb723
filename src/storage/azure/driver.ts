/**
 * The Azure Blob Storage driver (`storage.azure`): driver paths are blob names under
 * `rootdirectory` in one container, exactly as Distribution's Azure driver names them, so both
 * registries can serve the same container. What Blob Storage lacks is built from what it has:
 *
 * - appends: files written with `writer()` are block blobs that grow by committed block lists
 *   (blocks.ts, writer.ts), resumable from any instance;
 * - rename: `move` is a server-side copy then a delete, as in Distribution (the content moved is
 *   content-addressed, so a reader of the destination sees the old or the new bytes, both whole);
 * - folders: name prefixes (listing.ts);
 * - a fast catalog: the repository index (bucket/catalog-index.ts);
 * - downloads without Berth in the path: SAS URLs (`redirectURL`).
 *
 * Every write of a whole blob is atomic for readers, as Blob Storage writes are.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { AzureConfig } from '../../config/schema.js';
import {
  assertValidPath,
  PathNotFoundError,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WalkDecision,
} from '../driver.js';
import { BucketRepositoryIndex } from '../bucket/catalog-index.js';
import { KeyMapper } from '../bucket/keys.js';
import { walkEntries } from '../bucket/walk.js';
import { Blobs, isMissing, orNotFound } from './blobs.js';
import { azureSettings, type AzureSettings } from './client.js';
import { listEntries, statFolder } from './listing.js';
import { openReader } from './reader.js';
import { openWriter } from './writer.js';

/** How long a download redirect stays valid (Distribution uses 20 minutes). */
const REDIRECT_TTL_MINUTES = 20;

export interface AzureDriverOptions {
  /** SAS redirects for blob downloads (off with `storage.redirect.disable: true`). */
  redirect: boolean;
}

export class AzureDriver implements StorageDriver {
  readonly name = 'azure';
  readonly settings: AzureSettings;
  readonly repositoryIndex: BucketRepositoryIndex;
  private readonly keys: KeyMapper;
  private readonly blobs: Blobs;

  constructor(config: AzureConfig, options: AzureDriverOptions = { redirect: true }) {
    this.settings = azureSettings(config, options);
    this.keys = new KeyMapper(this.settings.rootdirectory);
    this.blobs = new Blobs(this.settings);
    this.repositoryIndex = new BucketRepositoryIndex(this.blobs.indexStore(), this.keys, (path) => this.list(path));
  }

  private key(path: string): string {
    assertValidPath(path);
    return this.keys.key(path);
  }

  async getContent(path: string): Promise<Buffer> {
    const name = this.key(path);
    if (name === '') throw new PathNotFoundError(path);
    return orNotFound(path, () => this.blobs.getBuffer(name));
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const name = this.key(path);
    await this.blobs.put(name, typeof content === 'string' ? Buffer.from(content) : content);
    await this.repositoryIndex.afterWrite(path);
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    const name = this.key(path);
    if (name === '') throw new PathNotFoundError(path);
    return openReader(this.blobs, path, name, range);
  }

  async writer(path: string): Promise<FileWriter> {
    const name = this.key(path);
    return openWriter(this.blobs, name, path);
  }

  async stat(path: string): Promise<FileInfo> {
    const name = this.key(path);
    if (name !== '' && path !== '/') {
      try {
        const head = await this.blobs.head(name);
        return { path, size: head.size, modTime: head.modTime, isDir: false };
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    const folder = await statFolder(this.blobs, this.keys, path);
    if (!folder) throw new PathNotFoundError(path);
    return folder;
  }

  async list(path: string): Promise<string[]> {
    this.key(path);
    return (await listEntries(this.blobs, this.keys, path)).map((entry) => entry.name);
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.key(source);
    const to = this.key(destination);
    if (from === '') throw new PathNotFoundError(source);
    await this.copy(source, from, to);
    await this.blobs.deleteNames([from]);
  }

  /**
   * A server-side copy, waited for as Distribution's `copy_status_poll_*` settings say. The source
   * is named by its plain URL: in the same account, the request's shared key authorises reading
   * it (Distribution signs a SAS for it, which its Entra ID credentials need).
   */
  private async copy(source: string, from: string, to: string): Promise<void> {
    const target = this.settings.container.getBlobClient(to);
    const sourceUrl = this.settings.container.getBlobClient(from).url;
    const poller = await orNotFound(source, () => target.beginCopyFromURL(sourceUrl));
    const { copyPollRetries, copyPollDelayMs } = this.settings;
    for (let attempt = 1; !poller.isDone(); attempt++) {
      if (attempt > copyPollRetries) {
        await poller.cancelOperation().catch(() => undefined);
        throw new Error(`copy of ${source} still pending after ${Math.max(0, copyPollRetries)} polls; aborted`);
      }
      await sleep(copyPollDelayMs * attempt);
      await poller.poll();
    }
    await poller.pollUntilDone(); // throws when the copy failed
  }

  async delete(path: string): Promise<void> {
    const name = this.key(path);
    const below = await this.blobs.namesBelow(this.keys.folder(path));
    let exists = below.length > 0;
    const own: string[] = [];
    if (name !== '') {
      try {
        await this.blobs.head(name);
        exists = true;
        own.push(name);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    if (!exists) throw new PathNotFoundError(path);
    await this.blobs.deleteNames([...own, ...below]);
    await this.repositoryIndex.afterDelete(path);
  }

  async walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    this.key(path);
    await walkEntries((folder) => listEntries(this.blobs, this.keys, folder), path, visit);
  }

  async ping(): Promise<void> {
    // Reading the container's properties proves the account, the key and the container.
    await this.settings.container.getProperties();
  }

  async redirectURL(path: string, _method: 'GET' | 'HEAD'): Promise<string | undefined> {
    if (!this.settings.redirect) return undefined;
    // A read SAS serves GET and HEAD alike.
    return this.blobs.readURL(this.key(path), REDIRECT_TTL_MINUTES);
  }
}

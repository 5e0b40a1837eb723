/**
 * Content-addressed blobs, shared by every repository (stored once, linked per repository), and
 * the per-repository `_layers` links that make a blob visible in one repository.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../api/reference.js';
import { isNotFound, type ByteRange, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import { deleteIfPresent, readLink, writeLink } from './links.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export class BlobStore {
  /** `onLinked` runs after a link is written into a repository (the catalog's cache listens). */
  constructor(
    private readonly driver: StorageDriver,
    private readonly onLinked?: (name: string) => Promise<void>,
    /** After a link is removed: the repository may be gone. */
    private readonly onUnlinked?: (name: string) => Promise<void>,
  ) {}

  /** Size of the stored content, or undefined when no such blob is stored. */
  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const info = await this.driver.stat(paths.blobData(digest));
      return info.isDir ? undefined : { digest, size: info.size };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  reader(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.driver.reader(paths.blobData(digest), range);
  }

  /** A URL to fetch the content from storage directly (S3 presigned), when the driver offers one. */
  async redirectURL(digest: Digest): Promise<string | undefined> {
    return this.driver.redirectURL?.(paths.blobData(digest), 'GET');
  }

  getContent(digest: Digest): Promise<Buffer> {
    return this.driver.getContent(paths.blobData(digest));
  }

  /** Stores small verified content (a manifest) under its digest, atomically. */
  async put(digest: Digest, content: Buffer): Promise<void> {
    if (await this.stat(digest)) return;
    await this.driver.putContent(paths.blobData(digest), content);
  }

  /** Moves verified upload data into place; the same content arriving twice is kept once. */
  async commit(digest: Digest, uploadDataPath: string): Promise<void> {
    await this.driver.move(uploadDataPath, paths.blobData(digest));
  }

  // Per-repository visibility -------------------------------------------------------------

  async isLinked(name: string, digest: Digest): Promise<boolean> {
    const linked = await readLink(this.driver, paths.layerLink(name, digest));
    return linked?.value === digest.value;
  }

  async link(name: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, paths.layerLink(name, digest), digest);
    await this.onLinked?.(name);
  }

  /** Removes a blob from one repository; the bytes stay until garbage collection. */
  async unlink(name: string, digest: Digest): Promise<boolean> {
    const removed = await deleteIfPresent(this.driver, paths.layerLink(name, digest).replace(/\/link$/, ''));
    if (removed) await this.onUnlinked?.(name);
    return removed;
  }
}

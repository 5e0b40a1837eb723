/**
 * The S3 storage driver (`storage.s3`): driver paths are object keys under `rootdirectory` in one
 * bucket, exactly as Distribution's S3 driver lays them out, so both registries can serve the same
 * bucket. What S3 lacks is built from what it has:
 *
 * - appends: files written with `writer()` are kept as pieces plus a manifest (pieces.ts,
 *   writer.ts), resumable from any instance;
 * - rename: `move` is a server-side copy then a delete (copy.ts); a file kept as pieces is
 *   assembled into one object with UploadPartCopy, so no byte passes through Berth;
 * - folders: prefixes (listing.ts);
 * - a fast catalog: the repository index (bucket/catalog-index.ts);
 * - downloads without Berth in the path: presigned URLs (`redirectURL`).
 *
 * Every write of a whole object is atomic for readers, as S3 writes are.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Config } from '../../config/schema.js';
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
import { s3Settings, type S3Settings } from './client.js';
import { ServerSideCopy } from './copy.js';
import { isMissing, orNotFound, PIECES_SUFFIX } from './keys.js';
import { listEntries, statFolder } from './listing.js';
import { Objects } from './objects.js';
import { isManifestMetadata, parsePieceManifest, SIZE_METADATA } from './pieces.js';
import { openReader } from './reader.js';
import { assemblyPieces, openWriter } from './writer.js';

/** How long a presigned download URL stays valid (Distribution uses 20 minutes). */
const REDIRECT_TTL_SECONDS = 20 * 60;

export interface S3DriverOptions {
  /** Presigned redirects for blob downloads (off with `storage.redirect.disable: true`). */
  redirect: boolean;
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly settings: S3Settings;
  readonly repositoryIndex: BucketRepositoryIndex;
  private readonly keys: KeyMapper;
  private readonly objects: Objects;
  private readonly copier: ServerSideCopy;

  constructor(config: S3Config, options: S3DriverOptions = { redirect: true }) {
    this.settings = s3Settings(config, options);
    this.keys = new KeyMapper(this.settings.prefix);
    this.objects = new Objects(this.settings);
    this.copier = new ServerSideCopy(this.settings);
    this.repositoryIndex = new BucketRepositoryIndex(this.objects.indexStore(), this.keys, (path) => this.list(path));
  }

  private key(path: string): string {
    assertValidPath(path);
    return this.keys.key(path);
  }

  async getContent(path: string): Promise<Buffer> {
    const key = this.key(path);
    const { body, head } = await orNotFound(path, () => this.objects.getBuffer(key));
    if (!isManifestMetadata(head.metadata)) return body;
    const chunks: Buffer[] = [];
    for await (const chunk of await openReader(this.objects, path, key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const key = this.key(path);
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    // Replacing a file that was appended to leaves its old pieces unreferenced; they are removed
    // with the file (delete) or its folder, which for uploads follows soon. Checking here would
    // cost a listing on every link write.
    await this.objects.put(key, bytes);
    await this.repositoryIndex.afterWrite(path);
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    const key = this.key(path);
    return openReader(this.objects, path, key, range);
  }

  async writer(path: string): Promise<FileWriter> {
    const key = this.key(path);
    return openWriter(this.objects, this.copier, key);
  }

  async stat(path: string): Promise<FileInfo> {
    const key = this.key(path);
    if (key !== '' && path !== '/') {
      try {
        const head = await this.objects.head(key);
        const size = isManifestMetadata(head.metadata) ? Number(head.metadata[SIZE_METADATA] ?? 0) : head.size;
        return { path, size, modTime: head.modTime, isDir: false };
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    const folder = await statFolder(this.objects, this.keys, path);
    if (!folder) throw new PathNotFoundError(path);
    return folder;
  }

  async list(path: string): Promise<string[]> {
    this.key(path);
    return (await listEntries(this.objects, this.keys, path)).map((entry) => entry.name);
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.key(source);
    const to = this.key(destination);
    const head = await orNotFound(source, () => this.objects.head(from));
    if (isManifestMetadata(head.metadata)) {
      const manifest = parsePieceManifest((await orNotFound(source, () => this.objects.getBuffer(from))).body);
      const { pieces } = await assemblyPieces(this.objects, from, manifest.pieces);
      if (pieces.length === 0) await this.objects.put(to, Buffer.alloc(0));
      else if (pieces.length === 1) await this.copier.copy(pieces[0]!, to);
      else await this.copier.concatenate(pieces, to);
    } else {
      await this.copier.copy({ key: from, size: head.size }, to);
    }
    await this.objects.deleteKeys([from, ...(await this.objects.keysBelow(`${from}${PIECES_SUFFIX}/`))]);
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    const below = key === '' ? await this.objects.keysBelow('') : await this.objects.keysBelow(`${key}/`);
    let exists = below.length > 0;
    const own: string[] = [];
    if (key !== '') {
      try {
        await this.objects.head(key);
        exists = true;
        own.push(key);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      own.push(...(await this.objects.keysBelow(`${key}${PIECES_SUFFIX}/`)));
    }
    if (!exists) throw new PathNotFoundError(path);
    // The file (or manifest) first: once it is gone, its pieces are unreachable garbage anyway.
    await this.objects.deleteKeys([...own, ...below]);
    await this.repositoryIndex.afterDelete(path);
  }

  async walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    this.key(path);
    await walkEntries((folder) => listEntries(this.objects, this.keys, folder), path, visit);
  }

  async ping(): Promise<void> {
    await this.settings.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    // HEAD of an absent key proves that the credentials may read objects, not just the bucket.
    await this.settings.client
      .send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.keys.privateKey(`ping/${randomUUID()}`) }))
      .catch((error: unknown) => {
        if (!isMissing(error)) throw error;
      });
  }

  async redirectURL(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    if (!this.settings.redirect) return undefined;
    const key = this.key(path);
    const command =
      method === 'HEAD'
        ? new HeadObjectCommand({ Bucket: this.settings.bucket, Key: key })
        : new GetObjectCommand({ Bucket: this.settings.bucket, Key: key });
    return getSignedUrl(this.settings.presignClient, command, { expiresIn: REDIRECT_TTL_SECONDS });
  }

  async close(): Promise<void> {
    this.settings.client.destroy();
    if (this.settings.presignClient !== this.settings.client) this.settings.presignClient.destroy();
  }
}

/** Thin wrappers over the S3 calls the driver makes, with the bucket and object options filled in. */
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type _Object,
  type CommonPrefix,
} from '@aws-sdk/client-s3';
import type { IndexStore } from '../bucket/catalog-index.js';
import type { S3Settings } from './client.js';
import { isMissing } from './keys.js';

export interface ObjectHead {
  size: number;
  modTime: Date;
  metadata: Record<string, string>;
}

export interface ListPage {
  objects: _Object[];
  prefixes: CommonPrefix[];
}

/** S3 deletes at most this many keys per request. */
const DELETE_BATCH = 1000;

export class Objects {
  constructor(readonly settings: S3Settings) {}

  private get bucket(): string {
    return this.settings.bucket;
  }

  async head(key: string): Promise<ObjectHead> {
    const output = await this.settings.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return {
      size: output.ContentLength ?? 0,
      modTime: output.LastModified ?? new Date(0),
      metadata: output.Metadata ?? {},
    };
  }

  /** Starts a download; `range` is an HTTP Range value such as "bytes=0-99". */
  async get(key: string, range?: string): Promise<{ body: Readable; head: ObjectHead }> {
    const output = await this.settings.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }),
    );
    const body = output.Body instanceof Readable ? output.Body : Readable.from([]);
    return {
      body,
      head: {
        size: output.ContentLength ?? 0,
        modTime: output.LastModified ?? new Date(0),
        metadata: output.Metadata ?? {},
      },
    };
  }

  async getBuffer(key: string): Promise<{ body: Buffer; head: ObjectHead }> {
    const { body, head } = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return { body: Buffer.concat(chunks), head };
  }

  async put(
    key: string,
    body: Buffer | Readable,
    options: { length?: number; metadata?: Record<string, string>; contentType?: string } = {},
  ): Promise<void> {
    await this.settings.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: options.length ?? (Buffer.isBuffer(body) ? body.length : undefined),
        ContentType: options.contentType ?? 'application/octet-stream',
        Metadata: options.metadata,
        ...this.settings.objectOptions,
      }),
    );
  }

  /** One page of a listing; pass the returned token back for the next. */
  async listPage(
    prefix: string,
    options: { delimiter?: string; token?: string; startAfter?: string; maxKeys?: number } = {},
  ): Promise<ListPage & { next?: string }> {
    const output = await this.settings.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: options.delimiter,
        ContinuationToken: options.token,
        StartAfter: options.token ? undefined : options.startAfter,
        MaxKeys: options.maxKeys,
      }),
    );
    return {
      objects: output.Contents ?? [],
      prefixes: output.CommonPrefixes ?? [],
      next: output.IsTruncated ? output.NextContinuationToken : undefined,
    };
  }

  /** Every page of a listing, one at a time (memory holds one page). */
  async *list(prefix: string, options: { delimiter?: string; startAfter?: string } = {}): AsyncGenerator<ListPage> {
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, { ...options, token });
      yield page;
      token = page.next;
    } while (token);
  }

  /** Deletes keys in batches; keys that are already gone count as deleted, as in S3. */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const output = await this.settings.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = output.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new Error(
          `S3 refused to delete ${failed.length} object(s), first ${first.Key}: ${first.Code} ${first.Message}`,
        );
      }
    }
  }

  /** Every key below a prefix (no delimiter), for deletion. */
  async keysBelow(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of this.list(prefix))
      for (const object of page.objects) if (object.Key) keys.push(object.Key);
    return keys;
  }

  /** The calls the repository index makes, on this bucket. */
  indexStore(): IndexStore {
    return {
      put: (key, body, contentType) => this.put(key, body, { contentType }),
      read: async (key) => {
        try {
          return (await this.getBuffer(key)).body;
        } catch (error) {
          if (isMissing(error)) return undefined;
          throw error;
        }
      },
      deleteKeys: (keys) => this.deleteKeys(keys),
      keys: (prefix) => this.keyPages(prefix),
    };
  }

  private async *keyPages(prefix: string): AsyncGenerator<string[]> {
    for await (const page of this.list(prefix))
      yield page.objects.flatMap((object) => (object.Key ? [object.Key] : []));
  }
}

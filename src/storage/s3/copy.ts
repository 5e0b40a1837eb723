/**
 * Server-side copies: no byte of the content passes through Berth. One object is copied with
 * CopyObject up to `multipartcopythresholdsize`, above it with a multipart upload of ranged
 * UploadPartCopy calls; several objects (the pieces of an upload) are concatenated the same way,
 * each piece one or more parts. At most `multipartcopymaxconcurrency` part copies run at once.
 *
 * CompleteMultipartUpload's answer is not relied on: some servers (Ceph RGW of Debian 12) answer
 * it with an empty ETag. Success is the absence of an error.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { S3_LIMITS, type S3Settings } from './client.js';

export interface CopySource {
  key: string;
  size: number;
}

/** One part of the destination: bytes `start..end` (inclusive) of a source object. */
export interface CopyPart {
  key: string;
  start: number;
  end: number;
}

/** How many parts a source of `size` bytes is split into, each but the last ≥ S3's minimum. */
function splitCount(size: number, chunk: number): number {
  const wanted = Math.ceil(size / chunk);
  return Math.max(1, Math.min(wanted, Math.floor(size / S3_LIMITS.minPartSize)));
}

/**
 * The parts that assemble `sources` in order. Every source but the last must be at least S3's
 * part minimum (pieces.ts keeps it so). Large sources are split into about `chunk`-sized ranges for
 * parallel copies; if that would pass S3's 10,000 parts, the chunk grows until it does not.
 */
export function planParts(sources: readonly CopySource[], chunk: number): CopyPart[] {
  let size = Math.min(Math.max(chunk, S3_LIMITS.minPartSize), S3_LIMITS.maxPartSize);
  for (;;) {
    const counts = sources.map((source) =>
      Math.max(splitCount(source.size, size), Math.ceil(source.size / S3_LIMITS.maxPartSize)),
    );
    const total = counts.reduce((sum, count) => sum + count, 0);
    if (total <= S3_LIMITS.maxParts || size >= S3_LIMITS.maxPartSize) {
      if (total > S3_LIMITS.maxParts)
        throw new Error(`cannot assemble ${sources.length} objects in ${S3_LIMITS.maxParts} parts`);
      const parts: CopyPart[] = [];
      sources.forEach((source, index) => {
        const count = counts[index]!;
        const base = Math.floor(source.size / count);
        let start = 0;
        for (let part = 0; part < count; part++) {
          const length = part === count - 1 ? source.size - start : base;
          parts.push({ key: source.key, start, end: start + length - 1 });
          start += length;
        }
      });
      return parts;
    }
    size = Math.min(size * 2, S3_LIMITS.maxPartSize);
  }
}

/**
 * Runs `work` over `items` with at most `limit` in flight. The first failure stops new work and
 * is thrown once the work in flight has settled: a multipart upload aborted while part copies
 * still run may get those parts after the abort (S3 says so), which would leave it behind.
 */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async () => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (failure) throw failure.error;
  return results;
}

function copySource(bucket: string, key: string): string {
  // The SDK sends CopySource as given; S3 wants "bucket/key" with the key URL-encoded.
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export class ServerSideCopy {
  constructor(private readonly settings: S3Settings) {}

  /** Copies one object; `size` decides between CopyObject and a multipart copy. */
  async copy(source: CopySource, destination: string, metadata?: Record<string, string>): Promise<void> {
    const { client, bucket, objectOptions } = this.settings;
    if (source.size <= this.settings.copyThreshold || source.size === 0) {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: destination,
          CopySource: copySource(bucket, source.key),
          ...(metadata
            ? { Metadata: metadata, MetadataDirective: 'REPLACE' as const, ContentType: 'application/octet-stream' }
            : {}),
          ...objectOptions,
        }),
      );
      return;
    }
    await this.concatenate([source], destination, metadata);
  }

  /** Writes the concatenation of `sources` to `destination` (replacing it atomically). */
  async concatenate(
    sources: readonly CopySource[],
    destination: string,
    metadata?: Record<string, string>,
  ): Promise<void> {
    const { client, bucket, objectOptions } = this.settings;
    const parts = planParts(sources, this.settings.copyChunkSize);
    const created = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: destination,
        ContentType: 'application/octet-stream',
        Metadata: metadata,
        ...objectOptions,
      }),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 started no multipart upload for ${destination}`);
    try {
      const completed = await mapLimit(
        parts,
        this.settings.copyConcurrency,
        async (part, index): Promise<CompletedPart> => {
          const output = await client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: destination,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource(bucket, part.key),
              CopySourceRange: `bytes=${part.start}-${part.end}`,
            }),
          );
          return { PartNumber: index + 1, ETag: output.CopyPartResult?.ETag };
        },
      );
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: destination,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
        }),
      );
    } catch (error) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: destination, UploadId: uploadId }))
        .catch(() => undefined);
      throw error;
    }
  }
}

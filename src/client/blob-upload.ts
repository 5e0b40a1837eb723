/**
 * Blob uploads of the registry client: a cross-repository mount, one streamed PUT (digest
 * known), one streamed PATCH hashed on the way then a PUT (digest unknown), or PATCH chunks then a
 * PUT (chunked). Uploads are never retried: a session cannot be replayed safely.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { apiPaths } from '../api/routes.js';
import { scopes as scope } from './auth.js';
import type { RegistryCalls } from './calls.js';
import { digestAlgorithm, digestString } from './digest.js';
import { ClientError } from './errors.js';
import type { RequestBody, TransportResponse } from './transport.js';

/** Where a blob's bytes come from: bytes in memory, or a function that opens a stream of them. */
export type BlobSource = Buffer | (() => Readable);

export interface UploadOptions {
  /** The digest, when known; computed while uploading otherwise. */
  digest?: string;
  size?: number;
  /** Send the blob in PATCH chunks rather than one PUT. */
  chunked?: boolean;
  chunkSize?: number;
  /** Try a cross-repository mount from this repository first (needs `digest`). */
  mountFrom?: string;
}

export interface UploadResult {
  digest: string;
  size: number;
  /** True when the registry linked an existing blob instead of receiving bytes. */
  mounted: boolean;
}

export class BlobUploader {
  constructor(
    private readonly calls: RegistryCalls,
    private readonly chunkSize: number,
  ) {}

  /** Asks the registry to link a blob it has in `from` into `repository`; true when it did. */
  async mount(repository: string, digest: string, from: string): Promise<boolean> {
    const response = await this.startUpload(repository, { mount: digest, from });
    response.discard();
    if (response.status === 201) return true;
    // 202: the registry opened an upload instead; it is not needed.
    await this.cancelUpload(repository, response);
    return false;
  }

  /**
   * Uploads a blob: a mount when `mountFrom` is given and the registry agrees, otherwise one
   * streamed PUT (monolithic) or a series of PATCH chunks then a PUT (chunked).
   */
  async upload(repository: string, source: BlobSource, options: UploadOptions = {}): Promise<UploadResult> {
    let digest = options.digest;
    const size = Buffer.isBuffer(source) ? source.length : options.size;
    if (digest === undefined && Buffer.isBuffer(source)) digest = digestString(source);
    if (digest !== undefined) digestAlgorithm(digest);
    const started = await this.startUpload(
      repository,
      digest && options.mountFrom ? { mount: digest, from: options.mountFrom } : {},
    );
    started.discard();
    if (started.status === 201 && digest) return { digest, size: size ?? Number.NaN, mounted: true };
    const location = uploadLocation(started, `upload to ${repository}`);
    const algorithm = digest ? digestAlgorithm(digest) : 'sha256';
    const chunked = options.chunked === true;
    const result = chunked
      ? await this.uploadChunks(repository, location, source, options.chunkSize ?? this.chunkSize, algorithm)
      : await this.uploadWhole(repository, location, source, size, digest, algorithm);
    if (digest && result.digest !== digest) {
      throw new ClientError(
        'digest-mismatch',
        `the content uploaded to ${repository} has digest ${result.digest}, expected ${digest}`,
      );
    }
    if (size !== undefined && result.size !== size) {
      throw new ClientError('digest-mismatch', `uploaded ${result.size} bytes to ${repository}, expected ${size}`);
    }
    return { ...result, mounted: false };
  }

  private async startUpload(repository: string, query: { mount?: string; from?: string }): Promise<TransportResponse> {
    const scopes = [scope.push(repository)];
    if (query.from) scopes.push(scope.pull(query.from));
    return this.calls.expect(
      `start upload to ${repository}`,
      {
        method: 'POST',
        url: this.calls.url(apiPaths.uploads(repository, query)),
        scopes,
      },
      [201, 202],
    );
  }

  private async cancelUpload(repository: string, started: TransportResponse): Promise<void> {
    const location = started.header('location');
    if (!location) return;
    const response = await this.calls
      .call({
        method: 'DELETE',
        url: new URL(location, started.url),
        scopes: [scope.push(repository)],
      })
      .catch(() => undefined);
    response?.discard();
  }

  /** One PUT carrying the whole blob, streamed. */
  private async uploadWhole(
    repository: string,
    location: URL,
    source: BlobSource,
    size: number | undefined,
    digest: string | undefined,
    algorithm: 'sha256' | 'sha512',
  ): Promise<{ digest: string; size: number }> {
    if (digest === undefined) return this.uploadStreamed(repository, location, source, algorithm);
    const meter = new Meter(algorithm);
    const body: RequestBody = Buffer.isBuffer(source) ? source : () => source().pipe(meter);
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (size !== undefined && !Buffer.isBuffer(source)) headers['Content-Length'] = String(size);
    const response = await this.calls.expect(
      `upload ${digest} to ${repository}`,
      { method: 'PUT', url, scopes: [scope.push(repository)], headers, body, idempotent: false },
      [201, 204],
    );
    response.discard();
    return { digest, size: Buffer.isBuffer(source) ? source.length : meter.bytes };
  }

  /**
   * The digest goes in the final PUT's URL, so content whose digest is not known yet is sent in
   * one streamed PATCH, hashed on the way, and the upload closed with a PUT naming the result.
   */
  private async uploadStreamed(
    repository: string,
    location: URL,
    source: BlobSource,
    algorithm: 'sha256' | 'sha512',
  ): Promise<{ digest: string; size: number }> {
    const meter = new Meter(algorithm);
    const response = await this.calls.expect(
      `upload to ${repository}`,
      {
        method: 'PATCH',
        url: location,
        scopes: [scope.push(repository)],
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Buffer.isBuffer(source) ? () => Readable.from([source]).pipe(meter) : () => source().pipe(meter),
        idempotent: false,
      },
      [202, 204],
    );
    response.discard();
    const digest = meter.digest();
    const url = uploadLocation(response, `upload to ${repository}`, location);
    url.searchParams.set('digest', digest);
    const done = await this.calls.expect(
      `finish upload of ${digest} to ${repository}`,
      { method: 'PUT', url, scopes: [scope.push(repository)], idempotent: false },
      [201, 204],
    );
    done.discard();
    return { digest, size: meter.bytes };
  }

  /** PATCH pieces of `chunkSize` bytes (each held in memory once), then PUT with the digest. */
  private async uploadChunks(
    repository: string,
    start: URL,
    source: BlobSource,
    chunkSize: number,
    algorithm: 'sha256' | 'sha512',
  ): Promise<{ digest: string; size: number }> {
    const hash = createHash(algorithm);
    let location = start;
    let offset = 0;
    const stream = Buffer.isBuffer(source) ? Readable.from([source]) : source();
    try {
      for await (const piece of rechunk(stream, chunkSize)) {
        hash.update(piece);
        const response = await this.calls.expect(
          `upload chunk to ${repository}`,
          {
            method: 'PATCH',
            url: location,
            scopes: [scope.push(repository)],
            headers: {
              'Content-Type': 'application/octet-stream',
              'Content-Range': `${offset}-${offset + piece.length - 1}`,
            },
            body: piece,
            idempotent: false,
          },
          [202, 204],
        );
        response.discard();
        offset += piece.length;
        location = uploadLocation(response, `upload to ${repository}`, location);
      }
    } finally {
      stream.destroy();
    }
    const digest = `${algorithm}:${hash.digest('hex')}`;
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const done = await this.calls.expect(
      `finish upload of ${digest} to ${repository}`,
      { method: 'PUT', url, scopes: [scope.push(repository)], idempotent: false },
      [201, 204],
    );
    done.discard();
    return { digest, size: offset };
  }
}

function uploadLocation(response: TransportResponse, what: string, fallback?: URL): URL {
  const location = response.header('location');
  if (!location) {
    if (fallback) return fallback;
    throw new ClientError('failure', `${what}: the registry sent no Location for the upload`);
  }
  return new URL(location, response.url);
}

/** Re-cuts a stream into pieces of exactly `size` bytes (the last one shorter). */
async function* rechunk(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    let data = chunk as Buffer;
    while (data.length > 0) {
      const take = Math.min(size - length, data.length);
      pending.push(data.subarray(0, take));
      length += take;
      data = data.subarray(take);
      if (length === size) {
        yield Buffer.concat(pending, length);
        pending = [];
        length = 0;
      }
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}

/** A pass-through that counts bytes and hashes them. */
class Meter extends Transform {
  bytes = 0;
  private readonly hash;

  constructor(readonly algorithm: 'sha256' | 'sha512' = 'sha256') {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

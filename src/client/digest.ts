/**
 * Digest checks for everything the client downloads: small documents are hashed whole, blobs are
 * hashed as they stream through, and a mismatch fails the stream at its end, before a consumer
 * can take the content for good.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { parseDigest, type DigestAlgorithm } from '../api/reference.js';
import { ClientError } from './errors.js';

export function digestString(bytes: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** The algorithm of a digest string, refusing digests the client cannot verify. */
export function digestAlgorithm(digest: string): DigestAlgorithm {
  const parsed = parseDigest(digest);
  if (!parsed.ok) throw new ClientError('usage', `invalid digest "${digest}": ${parsed.reason}`);
  return parsed.digest.algorithm;
}

/** Throws unless `bytes` hash to `expected`. */
export function verifyBytes(bytes: Buffer, expected: string, what: string): void {
  const actual = digestString(bytes, digestAlgorithm(expected));
  if (actual !== expected) {
    throw new ClientError('digest-mismatch', `${what}: content has digest ${actual}, expected ${expected}`, {
      hint: 'the registry or something between it and you altered the content; do not use it',
    });
  }
}

/**
 * A pass-through that hashes what flows and, at the end, fails unless the digest (and the size,
 * when given) match. Use it between a download and its destination.
 */
export class DigestVerifier extends Transform {
  private readonly hash;
  private bytes = 0;

  constructor(
    readonly expected: string,
    private readonly what: string,
    private readonly expectedSize?: number,
  ) {
    super();
    this.hash = createHash(digestAlgorithm(expected));
  }

  get size(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = `${this.expected.split(':')[0]}:${this.hash.digest('hex')}`;
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(
        new ClientError(
          'digest-mismatch',
          `${this.what}: received ${this.bytes} bytes, expected ${this.expectedSize}`,
          {
            hint: 'the transfer was cut short or the descriptor is wrong; try again',
          },
        ),
      );
      return;
    }
    if (actual !== this.expected) {
      callback(
        new ClientError('digest-mismatch', `${this.what}: content has digest ${actual}, expected ${this.expected}`, {
          hint: 'the registry or something between it and you altered the content; do not use it',
        }),
      );
      return;
    }
    callback();
  }
}

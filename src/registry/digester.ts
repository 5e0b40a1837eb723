/** Hashing for content addressing: a digest of bytes in memory, or of a stream as it passes. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Digest, DigestAlgorithm } from '../api/reference.js';

export function digestOf(algorithm: DigestAlgorithm, content: Buffer): Digest {
  const hex = createHash(algorithm).update(content).digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function digestFromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
  const hex = hash.copy().digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

/** A pass-through stream that feeds every chunk into `hash` on its way to the next stream. */
export class HashingStream extends Transform {
  bytes = 0;

  constructor(private readonly hash: Hash) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

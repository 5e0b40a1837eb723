/**
 * Failures of registry operations that carry more than a spec error code: what happened, with
 * the figures a client needs. The HTTP layer (src/http/errors.ts) decides their status and
 * headers; the registry never speaks HTTP.
 */
import { RegistryError } from '../api/errors.js';

/** A chunk that does not start where the upload ends. */
export class ChunkOutOfOrderError extends RegistryError {
  constructor(
    /** Bytes the upload holds. */
    readonly offset: number,
    readonly start: number,
    readonly end: number,
  ) {
    super('BLOB_UPLOAD_INVALID', `chunk out of order: upload has ${offset} bytes, chunk starts at ${start}`, {
      offset,
      start,
      end,
    });
    this.name = 'ChunkOutOfOrderError';
  }
}

/** An upload that grew past `berth.limits.maxblobsize`; the upload is cancelled. */
export class BlobTooLargeError extends RegistryError {
  constructor(readonly limit: number) {
    super(
      'SIZE_INVALID',
      `blob exceeds the maximum size of ${limit} bytes (berth.limits.maxblobsize); the upload is cancelled`,
      { limit },
    );
    this.name = 'BlobTooLargeError';
  }
}

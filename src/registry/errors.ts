/**
 * Failures of registry operations that carry more than a spec error code: what happened, with
 * the figures a client needs. The HTTP layer (src/http/errors.ts) decides their status and
 * headers; the registry never speaks HTTP.
 */
import { RegistryError } from '../api/errors.js';
import { storageFullCause } from '../storage/driver.js';

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

/**
 * The storage has no room for a write (a full disk, an exhausted quota). The request's partial
 * data is removed; nothing stored before is touched, and writes succeed again once space is freed.
 */
export class InsufficientStorageError extends RegistryError {
  constructor(readonly reason: string) {
    super(
      'UNKNOWN',
      `insufficient storage: the registry's storage is full (${reason}); this write was not kept, retry once space is freed`,
      { reason },
    );
    this.name = 'InsufficientStorageError';
  }

  /** The error as an InsufficientStorageError when it is one (or a storage-full error), else undefined. */
  static of(error: unknown): InsufficientStorageError | undefined {
    if (error instanceof InsufficientStorageError) return error;
    const cause = storageFullCause(error);
    return cause === undefined ? undefined : new InsufficientStorageError(cause);
  }
}

/** A push or delete that would change a tag an immutability rule protects (docs/policies.md). */
export class ImmutableTagError extends RegistryError {
  constructor(name: string, tag: string, rule: string, change: 'moved' | 'deleted') {
    super(
      'DENIED',
      `tag ${name}:${tag} is immutable and cannot be ${change}: ${rule}; an administrator can lift this for one operation with "berth tag-unlock ${name}:${tag}"`,
      { repository: name, tag, rule },
    );
    this.name = 'ImmutableTagError';
  }
}

/** A push that would take a repository or namespace past a quota (docs/policies.md). */
export class QuotaExceededError extends RegistryError {
  constructor(quota: string, scope: string, kind: 'bytes' | 'tags', used: number, adding: number, limit: number) {
    const what =
      adding > 0
        ? `this push adds ${adding} ${kind}, ${used + adding} would exceed the limit of ${limit}`
        : `the limit of ${limit} ${kind} is reached; no upload is accepted until usage goes down`;
    super('DENIED', `quota exceeded: ${scope} uses ${used} ${kind}; ${what}: ${quota}`, {
      quota,
      scope,
      kind,
      used,
      adding,
      limit,
    });
    this.name = 'QuotaExceededError';
  }
}

/** Another request (of another process or instance) is writing to this upload right now. */
export class UploadBusyError extends RegistryError {
  constructor(readonly uuid: string) {
    super(
      'BLOB_UPLOAD_INVALID',
      'another request is writing to this upload right now; send the next chunk after the previous answer',
      { uuid },
    );
    this.name = 'UploadBusyError';
  }
}

/**
 * The storage driver interface: the only way registry logic touches bytes at rest.
 *
 * Paths are absolute, slash-separated driver paths such as
 * `/docker/registry/v2/blobs/sha256/ab/ab12…/data` (see `paths.ts`). A driver maps them onto
 * its backend (a folder, a bucket). Every method that writes is atomic from a reader's point of
 * view: content is written under a temporary name and moved into place, so a half-written file is
 * never visible under its final name.
 *
 * Every method checks its paths (`assertValidPath`) before touching the backend and throws
 * InvalidPathError for a bad one. test/storage/contract.ts holds the contract as runnable cases;
 * a new driver passes it before registry logic may use it.
 */
import type { Readable, Writable } from 'node:stream';

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
}

/** An inclusive byte range; `end` undefined means "to the end of the file". */
export interface ByteRange {
  start: number;
  end?: number;
}

/** A range a driver can serve: whole non-negative offsets, `end` (inclusive) not before `start`. */
export function isValidRange(range: ByteRange): boolean {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) return false;
  return end === undefined || (Number.isSafeInteger(end) && end >= start);
}

/** A stream that appends to a file; `size` is the file's length once the stream has finished. */
export interface FileWriter extends Writable {
  /** Bytes in the file: what was there before plus what this writer has written. */
  readonly size: number;
}

/**
 * A reader that takes back the chunks its consumer is done with and reads into them again, rather
 * than allocating a buffer per piece: a large download then allocates a few megabytes in all, not
 * its size, which would keep the garbage collector busy. Hand back only chunks this reader gave,
 * once nothing refers to them any more; a consumer that never hands any back loses nothing.
 */
export interface RecyclingReader extends Readable {
  recycle(chunk: Buffer): void;
}

export function isRecyclingReader(stream: Readable): stream is RecyclingReader {
  return typeof (stream as Partial<RecyclingReader>).recycle === 'function';
}

/** What `walk` callbacks return: `'skip'` stops descent into a folder. */
// biome-ignore lint/suspicious/noConfusingVoidType: visitors that return nothing must be accepted; undefined would refuse them
export type WalkDecision = void | 'skip';

export interface StorageDriver {
  readonly name: string;
  /** Reads a small file whole (links, manifests). Throws PathNotFoundError (also for a folder). */
  getContent(path: string): Promise<Buffer>;
  /** Writes a small file whole, atomically (temporary name, then rename). */
  putContent(path: string, content: Buffer | string): Promise<void>;
  /**
   * Streams a file, or a byte range of it (an `end` past the file stops at its end). Throws
   * PathNotFoundError (missing, or a folder) and InvalidOffsetError (an offset that is negative or
   * not whole, `start` past the end of the file, `end` before `start`).
   */
  reader(path: string, range?: ByteRange): Promise<Readable>;
  /** Opens a file for appending (creating it, and its parents, if absent). */
  writer(path: string): Promise<FileWriter>;
  /** Throws PathNotFoundError. A folder's size is 0. */
  stat(path: string): Promise<FileInfo>;
  /** Names (not paths) of the direct children of a folder, unsorted. Throws PathNotFoundError (also for a file). */
  list(path: string): Promise<string[]>;
  /**
   * Moves a file into place atomically, replacing what was there and creating the destination's
   * folders. Throws PathNotFoundError, and creates nothing, when the source is missing.
   */
  move(source: string, destination: string): Promise<void>;
  /** Deletes a file or a whole folder. Throws PathNotFoundError when nothing was there. */
  delete(path: string): Promise<void>;
  /**
   * Visits every file and folder below `path`, depth first, in lexical order.
   * The callback may return 'skip' for a folder to leave its contents out. Throws
   * PathNotFoundError when `path` is missing.
   */
  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void>;
  /** Health probe: throws when the backend cannot be reached. */
  ping(): Promise<void>;
  /**
   * Optional: a URL the client may fetch the file from directly (a presigned object-storage URL)
   * for `method`, or undefined to serve it through Berth. Distribution's `storage.redirect`.
   */
  redirectURL?(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>;
  /** Optional: repository names kept in an index by the driver, for backends where walking is slow. */
  readonly repositoryIndex?: RepositoryIndex;
  /**
   * Optional: creates a small file only if nothing is at `path` (an exclusive create, atomic
   * across processes sharing the storage); false when something is. Creates no folder: throws
   * PathNotFoundError when the parent folder is missing.
   */
  createExclusive?(path: string, content: string): Promise<boolean>;
  /** Optional: releases connections and timers. */
  close?(): Promise<void>;
}

/** Every repository name, in byte order, from an index kept by the storage driver (docs/s3.md, docs/architecture.md). */
export interface RepositoryIndex {
  /** Do not modify the result. */
  all(): Promise<readonly string[]>;
  /**
   * Whether garbage collection may take its repositories from the index. False when writers that
   * do not know the index (Distribution on the same folder) are seen only at the next
   * verification: garbage collection then walks the tree, so it never misses a repository.
   */
  readonly complete: boolean;
}

export class StorageError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class PathNotFoundError extends StorageError {
  constructor(path: string) {
    super(`path not found: ${path}`, path);
  }
}

export class InvalidPathError extends StorageError {
  constructor(path: string) {
    super(`invalid path: ${path}`, path);
  }
}

export class InvalidOffsetError extends StorageError {
  constructor(
    path: string,
    readonly offset: number,
  ) {
    super(`invalid offset ${offset} for ${path}`, path);
  }
}

/**
 * Driver paths are checked once here so that no driver ever joins an unchecked string onto its
 * root: every component is non-empty, made of safe characters, and never `.` or `..`.
 */
const PATH_PATTERN = /^(\/[A-Za-z0-9._:-]+)+$|^\/$/;

export function assertValidPath(path: string): void {
  if (!PATH_PATTERN.test(path) || path.split('/').some((part) => part === '.' || part === '..')) {
    throw new InvalidPathError(path);
  }
}

/**
 * Why a write failed for want of space, or undefined when it did not: the filesystem is full
 * (ENOSPC) or the user's quota is (EDQUOT), or the bucket's quota is (S3 `QuotaExceeded`, as
 * Ceph RGW answers it), or the Blob Storage emulator's memory is (Azurite's
 * `MemoryExtentStoreAtSizeLimit`; Azure itself has no per-container quota). Drivers let these
 * errors through as they are; the HTTP layer answers 507.
 */
export function storageFullCause(error: unknown): string | undefined {
  const { code, name, Code } = (error ?? {}) as { code?: unknown; name?: unknown; Code?: unknown };
  if (code === 'ENOSPC') return 'ENOSPC: no space left on the storage device';
  if (code === 'EDQUOT') return 'EDQUOT: the storage quota is exhausted';
  if (name === 'QuotaExceeded' || Code === 'QuotaExceeded') return 'QuotaExceeded: the bucket quota is exhausted';
  if (code === 'MemoryExtentStoreAtSizeLimit')
    return 'MemoryExtentStoreAtSizeLimit: the Blob Storage emulator holds no more data';
  return undefined;
}

/**
 * Runs a backend call, turning the backend's "no such object" (as `isMissing` recognises it) into
 * PathNotFoundError for `path`.
 */
export async function orPathNotFound<T>(
  path: string,
  isMissing: (error: unknown) => boolean,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isMissing(error)) throw new PathNotFoundError(path);
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof PathNotFoundError;
}

/**
 * `walk` for drivers whose folders can be listed: depth first, in lexical order, skipping what
 * is removed while walking.
 */
export async function walkByListing(
  driver: Pick<StorageDriver, 'list' | 'stat'>,
  path: string,
  visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>,
): Promise<void> {
  const names = (await driver.list(path)).sort();
  for (const name of names) {
    const child = path === '/' ? `/${name}` : `${path}/${name}`;
    let info: FileInfo;
    try {
      info = await driver.stat(child);
    } catch (error) {
      if (error instanceof PathNotFoundError) continue; // removed while walking
      throw error;
    }
    const decision = await visit(info);
    if (info.isDir && decision !== 'skip') {
      try {
        await walkByListing(driver, child, visit);
      } catch (error) {
        if (!(error instanceof PathNotFoundError)) throw error;
      }
    }
  }
}

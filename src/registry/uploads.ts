/**
 * Blob upload sessions (`_uploads/<uuid>/`): bytes are appended to `data` as they arrive and hashed
 * on the way in, so finishing an upload never re-reads what was just written. The running hash
 * lives in memory. When it does not match the stored bytes (after a restart, or because another
 * instance took the previous chunk) chunks are stored without hashing and the digest is computed
 * from `data` once, when the upload finishes: resuming costs no re-read per chunk.
 *
 * Requests of one upload are serialised by a Locker: in-process by default, across instances when
 * Redis is configured (src/shared/lock.ts); and, where the driver can create a file exclusively,
 * by a lock file in the upload's folder across every process sharing it (upload-file-lock.ts).
 * While Redis is down the lock files alone serialise; without them (S3, Azure) the Locker refuses.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import type { Digest, DigestAlgorithm } from '../api/reference.js';
import { errors } from '../api/errors.js';
import { BlobTooLargeError, ChunkOutOfOrderError } from './errors.js';
import { isNotFound, storageFullCause, type StorageDriver } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import type { BlobStore } from './blob-store.js';
import { digestFromHash, HashingStream } from './digester.js';
import type { ReferenceGuard } from './gc/protocol.js';
import { KeyedLock } from './keyed-lock.js';
import type { Locker } from '../shared/lock.js';
import { deleteIfPresent } from './links.js';
import { UploadFileLock } from './upload-file-lock.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Running hashes kept in memory; beyond this the oldest are dropped (and rebuilt if needed). */
const MAX_CACHED_HASHES = 10_000;

interface HashState {
  algorithm: DigestAlgorithm;
  hash: Hash;
  offset: number;
}

export interface UploadStatus {
  uuid: string;
  /** Bytes received so far. */
  offset: number;
}

/** Where a chunk claims to start and how long it claims to be (from `Content-Range`). */
export interface ChunkClaim {
  start: number;
  end: number;
}

export interface UploadLimits {
  /** Largest blob accepted, in bytes; undefined for no limit. */
  maxBlobSize?: number;
}

export class UploadStore {
  private readonly hashes = new Map<string, HashState>();
  private readonly fileLock: UploadFileLock;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly guard: ReferenceGuard,
    private readonly lock: Locker = new KeyedLock(),
    private readonly limits: UploadLimits = {},
  ) {
    this.fileLock = new UploadFileLock(driver);
  }

  static isValidUuid(uuid: string): boolean {
    return UUID_PATTERN.test(uuid);
  }

  async start(name: string, algorithm: DigestAlgorithm): Promise<UploadStatus> {
    // An upload whose next request would be refused (the shared lock is down) is not begun.
    await this.lock.ensureAvailable?.();
    const uuid = randomUUID();
    try {
      await this.driver.putContent(paths.uploadData(name, uuid), Buffer.alloc(0));
      await this.driver.putContent(
        paths.uploadStartedAt(name, uuid),
        new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      );
    } catch (error) {
      // No client was told this upload's URL: what was written of it is nobody's.
      await this.discard(name, uuid).catch(() => undefined);
      throw error;
    }
    this.remember(name, uuid, { algorithm, hash: createHash(algorithm), offset: 0 });
    return { uuid, offset: 0 };
  }

  /**
   * A whole blob in one request (`POST …/uploads/?digest=`). The upload's URL is never given
   * to the client, so nobody can resume it: when the request fails (the client went away
   * mid-body, the disk filled up) its folder is removed at once rather than left to purging.
   */
  async putWhole(name: string, digest: Digest, body: Readable): Promise<number> {
    const { uuid } = await this.start(name, digest.algorithm);
    try {
      return await this.complete(name, uuid, digest, body);
    } catch (error) {
      // Nobody else knows this upload: without its lock (the shared one may be down) it is ours still.
      await this.lock
        .run(this.key(name, uuid), () => this.discard(name, uuid))
        .catch(() => this.discard(name, uuid))
        .catch(() => undefined);
      throw error;
    }
  }

  async status(name: string, uuid: string): Promise<UploadStatus> {
    return { uuid, offset: await this.size(name, uuid) };
  }

  /** Appends a chunk; a claimed start other than the current offset is refused with 416. */
  append(name: string, uuid: string, body: Readable, claim?: ChunkClaim): Promise<UploadStatus> {
    return this.locked(name, uuid, async () => {
      const offset = await this.appendLocked(name, uuid, body, claim);
      return { uuid, offset };
    });
  }

  /**
   * Finishes an upload: appends the final chunk if any, checks the whole content against
   * `digest`, moves it into the blob store and links it into the repository. On a digest
   * mismatch the upload is discarded and nothing becomes visible.
   */
  complete(name: string, uuid: string, digest: Digest, body?: Readable, claim?: ChunkClaim): Promise<number> {
    return this.locked(name, uuid, async () => {
      const size = body ? await this.appendLocked(name, uuid, body, claim) : await this.size(name, uuid);
      const state = await this.hashState(name, uuid, size, digest.algorithm);
      const actual = digestFromHash(digest.algorithm, state.hash);
      if (actual.value !== digest.value) {
        await this.discard(name, uuid);
        throw errors.digestInvalid({ expected: digest.value, actual: actual.value });
      }
      // Under the GC guard: a sweep cannot delete the stored copy between the check and the link.
      try {
        await this.guard.protect(name, [digest], async () => {
          if (await this.blobs.stat(digest)) {
            await deleteIfPresent(this.driver, paths.uploadData(name, uuid));
          } else {
            await this.blobs.commit(digest, paths.uploadData(name, uuid));
          }
          await this.blobs.link(name, digest);
        });
      } catch (error) {
        // Out of space for the blob (an object store copies it into place, which needs room for
        // a second copy): as with a chunk, the upload would hold space it cannot use; the client
        // pushes the blob again once there is room.
        if (storageFullCause(error)) await this.discard(name, uuid);
        throw error;
      }
      await this.discard(name, uuid);
      return size;
    });
  }

  async cancel(name: string, uuid: string): Promise<void> {
    await this.locked(name, uuid, async () => {
      if (!(await this.discard(name, uuid))) throw errors.uploadUnknown(uuid);
    });
  }

  private async appendLocked(name: string, uuid: string, body: Readable, claim?: ChunkClaim): Promise<number> {
    const offset = await this.size(name, uuid);
    if (claim && claim.start !== offset) {
      body.resume(); // drain what the client sends, so it sees the answer
      throw new ChunkOutOfOrderError(offset, claim.start, claim.end);
    }
    const max = this.limits.maxBlobSize;
    if (max !== undefined && claim && claim.end >= max) {
      body.resume();
      await this.discard(name, uuid);
      throw new BlobTooLargeError(max);
    }
    const state = this.currentHash(name, uuid, offset);
    const writer = await this.driver.writer(paths.uploadData(name, uuid));
    const cap = max === undefined ? undefined : new SizeCap(max - offset);
    try {
      const stages = [cap, state && new HashingStream(state.hash)].filter((stage) => stage !== undefined);
      await pipeline([body, ...stages, writer]);
    } catch (error) {
      // Whatever reached the disk stays (the upload is resumable from there), but the in-memory
      // hash may now be ahead of the file: drop it so it is rebuilt from the file. A write still
      // in flight lands before the lock is released, so the next chunk sees the final length.
      this.hashes.delete(this.key(name, uuid));
      await closed(writer);
      // Out of space: the half-written chunk would hold the space it failed to get; the client
      // starts the upload again once there is room.
      if (storageFullCause(error)) await this.discard(name, uuid);
      throw error;
    }
    if (cap?.exceeded) {
      // No blob this large can ever be accepted: free the space now rather than at purging.
      await this.discard(name, uuid);
      throw new BlobTooLargeError(max!);
    }
    if (state) state.offset = writer.size;
    return writer.size;
  }

  /** The in-memory hash when it covers exactly the stored bytes; a stale one is dropped. */
  private currentHash(name: string, uuid: string, offset: number): HashState | undefined {
    const key = this.key(name, uuid);
    const cached = this.hashes.get(key);
    if (cached?.offset === offset) return cached;
    this.hashes.delete(key);
    if (offset > 0) return undefined;
    // Nothing stored yet (the upload began on another instance): hashing can start here. The
    // algorithm is checked at the end; sha256, by far the most common, is assumed.
    const fresh: HashState = { algorithm: 'sha256', hash: createHash('sha256'), offset: 0 };
    this.remember(name, uuid, fresh);
    return fresh;
  }

  /** The running hash for an upload at `offset`, rebuilt from the stored bytes when needed. */
  private async hashState(name: string, uuid: string, offset: number, algorithm?: DigestAlgorithm): Promise<HashState> {
    const key = this.key(name, uuid);
    const cached = this.hashes.get(key);
    if (cached && cached.offset === offset && (!algorithm || cached.algorithm === algorithm)) return cached;
    const chosen = algorithm ?? cached?.algorithm ?? 'sha256';
    const hash = createHash(chosen);
    if (offset > 0) {
      const reader = await this.driver.reader(paths.uploadData(name, uuid), { start: 0, end: offset - 1 });
      for await (const chunk of reader) hash.update(chunk as Buffer);
    }
    const state = { algorithm: chosen, hash, offset };
    this.remember(name, uuid, state);
    return state;
  }

  private async size(name: string, uuid: string): Promise<number> {
    try {
      return (await this.driver.stat(paths.uploadData(name, uuid))).size;
    } catch (error) {
      if (isNotFound(error)) throw errors.uploadUnknown(uuid);
      throw error;
    }
  }

  private async discard(name: string, uuid: string): Promise<boolean> {
    this.hashes.delete(this.key(name, uuid));
    return deleteIfPresent(this.driver, paths.uploadFolder(name, uuid));
  }

  private remember(name: string, uuid: string, state: HashState): void {
    const key = this.key(name, uuid);
    this.hashes.delete(key);
    this.hashes.set(key, state);
    if (this.hashes.size > MAX_CACHED_HASHES) {
      const oldest = this.hashes.keys().next().value;
      if (oldest !== undefined) this.hashes.delete(oldest);
    }
  }

  /** One request at a time per upload: queued in this process, refused across processes. */
  private locked<T>(name: string, uuid: string, work: () => Promise<T>): Promise<T> {
    return this.lock.run(this.key(name, uuid), () => this.fileLock.hold(name, uuid, work));
  }

  private key(name: string, uuid: string): string {
    return `${name}\u0000${uuid}`;
  }
}

/** Resolves once a stream has closed (after its last write and the release of its file). */
function closed(stream: Writable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/**
 * Passes at most `room` bytes on. Past that it keeps reading and drops the rest, so that the
 * client finishes sending and reads the 413 instead of a reset connection.
 */
class SizeCap extends Transform {
  exceeded = false;
  private left: number;

  constructor(room: number) {
    super();
    this.left = room;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.exceeded) {
      callback();
      return;
    }
    if (chunk.length > this.left) {
      this.exceeded = true;
      callback();
      return;
    }
    this.left -= chunk.length;
    callback(null, chunk);
  }
}

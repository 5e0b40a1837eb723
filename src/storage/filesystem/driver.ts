/**
 * The filesystem storage driver: driver paths map onto a root folder, as Distribution's
 * `storage.filesystem` driver does, so both can serve the same folder.
 *
 * Small metadata operations (link and manifest reads and writes, stat, list, rename) use the
 * synchronous calls: on a page-cache hit one costs about 15 µs of CPU, while a trip through
 * libuv's thread pool costs 250–500 µs on a busy two-core machine (docs/performance.md), and a
 * registry request makes several of them. Blob bytes stream in pieces (streams.ts). Each call
 * first awaits `pace()` (storage/pace.ts), so a long loop of them (a walk, a collection's scan)
 * gives the event loop a turn every few milliseconds.
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { access, constants, mkdir, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  assertValidPath,
  InvalidOffsetError,
  isValidRange,
  InvalidPathError,
  PathNotFoundError,
  walkByListing,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WalkDecision,
} from '../driver.js';
import * as paths from '../paths.js';
import { FilesystemRepositoryIndex } from './repository-index.js';
import { FileAppender, FileRangeReader } from './streams.js';
import { pace, turned } from '../pace.js';
import { writeFileAtomically } from './atomic.js';

/**
 * Temporary files live in this folder of the storage root: beside the registry tree and on the
 * same filesystem, so the final rename is atomic. The driver hides it from `list('/')` (and so
 * from `walk`) and refuses driver paths into it.
 */
const TEMP_FOLDER = '.berth-tmp';
/** Large reads: fewer syscalls and event-loop turns per megabyte served. */
const READ_CHUNK = 1024 * 1024;

export interface FilesystemOptions {
  rootdirectory: string;
  /** `storage.maintenance.readonly`: the driver's own bookkeeping (the repository index) writes nothing either. */
  readOnly?: boolean;
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly root: string;
  readonly repositoryIndex: FilesystemRepositoryIndex;

  constructor(options: FilesystemOptions) {
    this.root = options.rootdirectory;
    this.repositoryIndex = new FilesystemRepositoryIndex(this.root, join(this.root, TEMP_FOLDER), {
      readOnly: options.readOnly ?? false,
    });
  }

  private full(path: string): string {
    assertValidPath(path);
    // The temporary folder is the driver's own; no caller may read, list or write into it.
    if (path === `/${TEMP_FOLDER}` || path.startsWith(`/${TEMP_FOLDER}/`)) throw new InvalidPathError(path);
    return join(this.root, path);
  }

  /** Runs a filesystem call, turning ENOENT/ENOTDIR into the driver's typed error. */
  private mappedSync<T>(path: string, operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) throw new PathNotFoundError(path);
      throw error;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    await pace();
    const file = this.full(path);
    try {
      return this.mappedSync(path, () => readFileSync(file));
    } catch (error) {
      if (isErrno(error, 'EISDIR')) throw new PathNotFoundError(path); // a folder has no content
      throw error;
    }
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    await pace();
    writeFileAtomically(this.full(path), join(this.root, TEMP_FOLDER, randomUUID()), content);
    this.noteWrite(path);
  }

  async createExclusive(path: string, content: string): Promise<boolean> {
    await pace();
    const file = this.full(path);
    try {
      // O_CREAT | O_EXCL: one process wins, on local filesystems and NFS v3 and later alike.
      this.mappedSync(path, () => writeFileSync(file, content, { flag: 'wx' }));
      return true;
    } catch (error) {
      if (isErrno(error, 'EEXIST')) return false;
      throw error;
    }
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    await pace();
    const file = this.full(path);
    if (range && !isValidRange(range)) throw new InvalidOffsetError(path, range.start);
    // Open first, then check: the stream reads the file that was checked even if it is replaced
    // or deleted meanwhile.
    const fd = this.mappedSync(path, () => openSync(file, 'r'));
    let size: number;
    try {
      const info = fstatSync(fd);
      if (info.isDirectory()) throw new PathNotFoundError(path);
      if (range && range.start > info.size) throw new InvalidOffsetError(path, range.start);
      size = info.size;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const start = range?.start ?? 0;
    const end = range?.end === undefined ? size : Math.min(range.end + 1, size);
    return new FileRangeReader(fd, start, end, READ_CHUNK);
  }

  async writer(path: string): Promise<FileWriter> {
    await pace();
    const file = this.full(path);
    mkdirSync(dirname(file), { recursive: true });
    const fd = openSync(file, 'a');
    let existing: number;
    try {
      existing = fstatSync(fd).size;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new FileAppender(fd, existing);
  }

  async stat(path: string): Promise<FileInfo> {
    await pace();
    const file = this.full(path);
    const info = this.mappedSync(path, () => statSync(file, { throwIfNoEntry: false }));
    if (!info) throw new PathNotFoundError(path);
    const isDir = info.isDirectory();
    return { path, size: isDir ? 0 : info.size, modTime: info.mtime, isDir };
  }

  async list(path: string): Promise<string[]> {
    await pace();
    const folder = this.full(path);
    const names = this.mappedSync(path, () => readdirSync(folder));
    return path === '/' ? names.filter((name) => name !== TEMP_FOLDER) : names;
  }

  async move(source: string, destination: string): Promise<void> {
    await pace();
    const from = this.full(source);
    const to = this.full(destination);
    try {
      renameSync(from, to);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      // Either the source is missing or the destination's folder is: create the folder only for
      // a source that exists, so a failed move leaves nothing behind.
      this.mappedSync(source, () => lstatSync(from));
      mkdirSync(dirname(to), { recursive: true });
      this.mappedSync(source, () => renameSync(from, to));
    }
    this.noteDelete(source);
    this.noteWrite(destination);
  }

  async delete(path: string): Promise<void> {
    await pace();
    const target = this.full(path);
    const info = this.mappedSync(path, () => lstatSync(target, { throwIfNoEntry: false }));
    if (!info) throw new PathNotFoundError(path);
    if (info.isDirectory()) {
      // Asynchronous: a folder can be large (an upload's data, a whole repository).
      await rm(target, { recursive: true, force: true });
      turned();
    } else {
      // One file (a link, a lock): one system call, where the recursive removal makes several
      // trips through the thread pool, each waiting to be scheduled on a busy machine.
      this.mappedSync(path, () => rmSync(target, { force: true }));
    }
    this.noteDelete(path);
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return walkByListing(this, path, visit);
  }

  // The repository index follows the writes and deletes that can create or end a repository.

  private noteWrite(path: string): void {
    const where = paths.repositoryOfPath(path);
    if (where?.kind === 'links') this.repositoryIndex.add(where.name);
  }

  private noteDelete(path: string): void {
    const where = paths.repositoryOfPath(path);
    if (where?.kind === 'links') this.repositoryIndex.reconcile(where.name);
    else if (where?.kind === 'subtree') this.repositoryIndex.reconcileBelow(where.name);
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.R_OK | constants.W_OK);
  }
}

/**
 * The filesystem storage driver: driver paths map onto a root folder, as Distribution's
 * `storage.filesystem` driver does, so both can serve the same folder.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile, access, constants } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  assertValidPath,
  InvalidOffsetError,
  PathNotFoundError,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WalkDecision,
} from '../driver.js';

/** Temporary files live beside the tree (same filesystem, so rename is atomic), never inside it. */
const TEMP_FOLDER = '.berth-tmp';
/** Large reads: fewer syscalls and event-loop turns per megabyte served. */
const READ_CHUNK = 1024 * 1024;

export interface FilesystemOptions {
  rootdirectory: string;
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly root: string;

  constructor(options: FilesystemOptions) {
    this.root = options.rootdirectory;
  }

  private full(path: string): string {
    assertValidPath(path);
    return join(this.root, path);
  }

  private async tempName(): Promise<string> {
    const folder = join(this.root, TEMP_FOLDER);
    await mkdir(folder, { recursive: true });
    return join(folder, randomUUID());
  }

  /** Runs a filesystem call, turning ENOENT/ENOTDIR into the driver's typed error. */
  private async mapped<T>(path: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) throw new PathNotFoundError(path);
      throw error;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    const file = this.full(path);
    return this.mapped(path, () => readFile(file));
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const file = this.full(path);
    const temp = await this.tempName();
    try {
      await writeFile(temp, content);
      await mkdir(dirname(file), { recursive: true });
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    const file = this.full(path);
    const info = await this.stat(path);
    if (range && (range.start > info.size || (range.end !== undefined && range.end < range.start))) {
      throw new InvalidOffsetError(path, range.start);
    }
    return createReadStream(file, {
      start: range?.start,
      end: range?.end,
      highWaterMark: READ_CHUNK,
    });
  }

  async writer(path: string): Promise<FileWriter> {
    const file = this.full(path);
    await mkdir(dirname(file), { recursive: true });
    let existing = 0;
    try {
      existing = (await stat(file)).size;
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
    const stream = createWriteStream(file, { flags: 'a', highWaterMark: READ_CHUNK });
    return Object.defineProperty(stream, 'size', {
      get: () => existing + stream.bytesWritten,
    }) as unknown as FileWriter;
  }

  async stat(path: string): Promise<FileInfo> {
    const file = this.full(path);
    const info = await this.mapped(path, () => stat(file));
    return { path, size: info.size, modTime: info.mtime, isDir: info.isDirectory() };
  }

  async list(path: string): Promise<string[]> {
    const folder = this.full(path);
    return this.mapped(path, () => readdir(folder));
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.full(source);
    const to = this.full(destination);
    await mkdir(dirname(to), { recursive: true });
    await this.mapped(source, () => rename(from, to));
  }

  async delete(path: string): Promise<void> {
    const target = this.full(path);
    await this.mapped(path, () => access(target, constants.F_OK));
    await rm(target, { recursive: true, force: true });
  }

  async walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    const names = (await this.list(path)).sort();
    for (const name of names) {
      const child = path === '/' ? `/${name}` : `${path}/${name}`;
      let info: FileInfo;
      try {
        info = await this.stat(child);
      } catch (error) {
        if (error instanceof PathNotFoundError) continue; // removed while walking
        throw error;
      }
      const decision = await visit(info);
      if (info.isDir && decision !== 'skip') {
        try {
          await this.walk(child, visit);
        } catch (error) {
          if (!(error instanceof PathNotFoundError)) throw error;
        }
      }
    }
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.R_OK | constants.W_OK);
  }
}

/**
 * `storage.inmemory`: Distribution's in-memory driver, for demos and tests. Everything lives in
 * this process's memory and is gone when it exits; blobs are held whole, so it suits small
 * images only. `berth serve` runs one process with it (several would each see their own store).
 *
 * The tree is folders of named entries; a file is a list of the chunks written to it, so an
 * append copies only the new bytes. Writes replace an entry in one step, which is what makes
 * them atomic for readers here (there is no temporary name to rename from).
 */
import { Readable, Writable } from 'node:stream';
import {
  assertValidPath,
  InvalidOffsetError,
  isValidRange,
  PathNotFoundError,
  type ByteRange,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WalkDecision,
  walkByListing,
} from '../driver.js';

interface Folder {
  kind: 'folder';
  children: Map<string, Entry>;
  modTime: Date;
}

interface File {
  kind: 'file';
  chunks: Buffer[];
  size: number;
  modTime: Date;
}

type Entry = Folder | File;

const folder = (): Folder => ({ kind: 'folder', children: new Map(), modTime: new Date() });

function segments(path: string): string[] {
  assertValidPath(path);
  return path === '/' ? [] : path.slice(1).split('/');
}

export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  private readonly root = folder();

  private find(path: string): Entry | undefined {
    let entry: Entry | undefined = this.root;
    for (const name of segments(path)) {
      if (entry?.kind !== 'folder') return undefined;
      entry = entry.children.get(name);
    }
    return entry;
  }

  private file(path: string): File {
    const entry = this.find(path);
    if (entry?.kind !== 'file') throw new PathNotFoundError(path);
    return entry;
  }

  /** The folder that holds `path`, created with its parents; a file in the way is replaced. */
  private parentOf(path: string): { parent: Folder; name: string } {
    const names = segments(path);
    const name = names.pop();
    if (name === undefined) throw new PathNotFoundError(path);
    let parent = this.root;
    for (const segment of names) {
      let next = parent.children.get(segment);
      if (next?.kind !== 'folder') {
        next = folder();
        parent.children.set(segment, next);
      }
      parent = next;
    }
    return { parent, name };
  }

  private place(path: string, entry: Entry): void {
    const { parent, name } = this.parentOf(path);
    parent.children.set(name, entry);
    parent.modTime = new Date();
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.concat(this.file(path).chunks);
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const bytes = Buffer.from(content);
    this.place(path, { kind: 'file', chunks: [bytes], size: bytes.length, modTime: new Date() });
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    if (range && !isValidRange(range)) throw new InvalidOffsetError(path, range.start);
    const file = this.file(path);
    if (range && range.start > file.size) throw new InvalidOffsetError(path, range.start);
    const start = range?.start ?? 0;
    const end = range?.end === undefined ? file.size : Math.min(range.end + 1, file.size);
    // The chunks as they are now: a later append or replacement does not change this read.
    const chunks = [...file.chunks];
    function* pieces(): Generator<Buffer> {
      let offset = 0;
      for (const chunk of chunks) {
        const from = Math.max(start - offset, 0);
        const to = Math.min(end - offset, chunk.length);
        if (from < to) yield chunk.subarray(from, to);
        offset += chunk.length;
        if (offset >= end) return;
      }
    }
    return Readable.from(pieces(), { objectMode: false });
  }

  async writer(path: string): Promise<FileWriter> {
    let file = this.find(path);
    if (file?.kind !== 'file') {
      file = { kind: 'file', chunks: [], size: 0, modTime: new Date() };
      this.place(path, file);
    }
    const target = file;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        target.chunks.push(Buffer.from(chunk));
        target.size += chunk.length;
        target.modTime = new Date();
        done();
      },
    });
    return Object.defineProperty(stream, 'size', { get: () => target.size }) as FileWriter;
  }

  async stat(path: string): Promise<FileInfo> {
    const entry = this.find(path);
    if (!entry) throw new PathNotFoundError(path);
    const isDir = entry.kind === 'folder';
    return { path, size: isDir ? 0 : entry.size, modTime: entry.modTime, isDir };
  }

  async list(path: string): Promise<string[]> {
    const entry = this.find(path);
    if (entry?.kind !== 'folder') throw new PathNotFoundError(path);
    return [...entry.children.keys()];
  }

  async move(source: string, destination: string): Promise<void> {
    segments(destination);
    const entry = this.find(source);
    if (!entry || source === '/') throw new PathNotFoundError(source);
    this.detach(source);
    this.place(destination, entry);
  }

  private detach(path: string): void {
    const names = segments(path);
    const name = names.pop()!;
    const parent = this.find(`/${names.join('/')}`.replace(/^\/$/, '/'));
    if (parent?.kind === 'folder') parent.children.delete(name);
  }

  async delete(path: string): Promise<void> {
    if (!this.find(path)) throw new PathNotFoundError(path);
    if (path === '/') this.root.children.clear();
    else this.detach(path);
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return walkByListing(this, path, visit);
  }

  async ping(): Promise<void> {}
}

/**
 * A storage driver whose module is loaded on its first use, so that a configuration that does not
 * name it never loads its dependencies (the S3 driver's AWS SDK: a few hundred milliseconds of
 * start-up and some megabytes). `berth serve` pings the driver before listening, so a driver that
 * cannot load or is misconfigured still stops start-up.
 */
import type { Readable } from 'node:stream';
import type { ByteRange, FileInfo, FileWriter, RepositoryIndex, StorageDriver, WalkDecision } from './driver.js';

export class DeferredDriver implements StorageDriver {
  readonly repositoryIndex?: RepositoryIndex;
  private loading?: Promise<StorageDriver>;

  constructor(
    readonly name: string,
    private readonly load: () => Promise<StorageDriver>,
    /** Whether the loaded driver keeps a repository index, and whether it is complete. */
    index?: { complete: boolean },
  ) {
    if (index) {
      this.repositoryIndex = {
        complete: index.complete,
        all: async () => {
          const loaded = await this.loaded();
          if (!loaded.repositoryIndex) throw new Error(`storage driver ${name} keeps no repository index`);
          return loaded.repositoryIndex.all();
        },
      };
    }
  }

  /** The driver itself, loaded once. */
  loaded(): Promise<StorageDriver> {
    this.loading ??= this.load();
    return this.loading;
  }

  async getContent(path: string): Promise<Buffer> {
    return (await this.loaded()).getContent(path);
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    return (await this.loaded()).putContent(path, content);
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    return (await this.loaded()).reader(path, range);
  }

  async writer(path: string): Promise<FileWriter> {
    return (await this.loaded()).writer(path);
  }

  async stat(path: string): Promise<FileInfo> {
    return (await this.loaded()).stat(path);
  }

  async list(path: string): Promise<string[]> {
    return (await this.loaded()).list(path);
  }

  async move(source: string, destination: string): Promise<void> {
    return (await this.loaded()).move(source, destination);
  }

  async delete(path: string): Promise<void> {
    return (await this.loaded()).delete(path);
  }

  async walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return (await this.loaded()).walk(path, visit);
  }

  async ping(): Promise<void> {
    return (await this.loaded()).ping();
  }

  async redirectURL(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return (await this.loaded()).redirectURL?.(path, method);
  }

  async close(): Promise<void> {
    if (this.loading) await (await this.loading).close?.();
  }
}

/**
 * The repository index of the drivers over object storage (S3, Azure Blob Storage): one empty
 * object per repository at `<root>/~berth/catalog/repositories/<name>`, so `GET /v2/_catalog` is
 * one listing of that prefix (1,000 or more names per request, already in byte order) instead of
 * a walk of every repository folder of the bucket or container.
 *
 * It is kept correct by the writes themselves, from any number of instances, with no lock:
 * - a write that can create a repository (a `_layers` or `_manifests/revisions` link) stores the
 *   link first, then the entry (an idempotent write of an empty object);
 * - a delete inside a repository's `_layers` or `_manifests` runs `reconcile`: if the repository
 *   no longer exists, the entry is deleted, and then existence is checked once more and the entry
 *   put back if the repository came back meanwhile.
 * With the read-after-write consistency of S3 and Azure this cannot lose a repository: a writer's link is stored
 * before its entry, so either the deleter's second check sees the link, or the writer's entry is
 * stored after the deleter's delete. docs/s3.md walks through it.
 *
 * A bucket written by Distribution (or by Berth before the index existed) has no index: the first
 * catalog request builds it from a walk of `repositories/` and records that in `catalog/state`.
 * The build runs again once a day in the background, to pick up repositories another registry
 * wrote to the same bucket; deleting `catalog/state` forces it on the next request.
 */
import type { RepositoryIndex } from '../driver.js';
import { PathNotFoundError } from '../driver.js';
import * as paths from '../paths.js';
import type { KeyMapper } from './keys.js';

/** The few object calls the index makes, each driver's own. */
export interface IndexStore {
  /** Stores an object whole (replacing it). */
  put(key: string, body: Buffer, contentType?: string): Promise<void>;
  /** An object's content, or undefined when there is none. */
  read(key: string): Promise<Buffer | undefined>;
  /** Deletes objects; those already gone count as deleted. */
  deleteKeys(keys: readonly string[]): Promise<void>;
  /** The keys starting with `prefix`, in byte order, a page at a time. */
  keys(prefix: string): AsyncIterable<readonly string[]>;
}

/** A full rebuild this old is repeated (in the background) on the next catalog request. */
export const INDEX_REFRESH_MS = 24 * 3_600_000;
/** Repository folders listed at once while building. */
const BUILD_PARALLEL = 16;

export interface IndexState {
  builtAt: string;
}

export class BucketRepositoryIndex implements RepositoryIndex {
  /** Walking a bucket is what the index avoids; garbage collection reads it too (docs/s3.md). */
  readonly complete = true;
  private building?: Promise<void>;

  constructor(
    private readonly objects: IndexStore,
    private readonly keys: KeyMapper,
    /** The driver's folder listing (names of direct children; PathNotFoundError when empty). */
    private readonly list: (path: string) => Promise<string[]>,
  ) {}

  private get entriesPrefix(): string {
    return this.keys.privateKey('catalog/repositories/');
  }

  private get stateKey(): string {
    return this.keys.privateKey('catalog/state');
  }

  private entryKey(name: string): string {
    return `${this.entriesPrefix}${name}`;
  }

  /** Called after every whole-file write: a link may have created a repository. */
  async afterWrite(path: string): Promise<void> {
    const where = paths.repositoryOfPath(path);
    if (where?.kind === 'links') await this.add(where.name);
  }

  /** Called after every delete: a repository, or several, may be gone. */
  async afterDelete(path: string): Promise<void> {
    const where = paths.repositoryOfPath(path);
    if (where?.kind === 'links') await this.reconcile(where.name);
    else if (where?.kind === 'subtree') await this.reconcileBelow(where.name);
  }

  async add(name: string): Promise<void> {
    await this.objects.put(this.entryKey(name), Buffer.alloc(0));
  }

  /** Makes the entry of `name` agree with storage (see the file comment for why in this order). */
  async reconcile(name: string): Promise<void> {
    if (await this.exists(name)) {
      await this.add(name);
      return;
    }
    await this.objects.deleteKeys([this.entryKey(name)]);
    if (await this.exists(name)) await this.add(name);
  }

  /** Reconciles every entry at or below `name` ("" for all): a whole folder was deleted. */
  async reconcileBelow(name: string): Promise<void> {
    const names = await this.entries(name);
    for (let start = 0; start < names.length; start += BUILD_PARALLEL) {
      await Promise.all(names.slice(start, start + BUILD_PARALLEL).map((entry) => this.reconcile(entry)));
    }
  }

  async all(): Promise<string[]> {
    const state = await this.state();
    if (!state) {
      await this.build();
    } else if (Date.now() - Date.parse(state.builtAt) > INDEX_REFRESH_MS) {
      void this.build().catch(() => undefined);
    }
    return this.entries('');
  }

  /** Names in the index at or below `under` ("" for all), in byte order. */
  private async entries(under: string): Promise<string[]> {
    const names: string[] = [];
    for await (const page of this.objects.keys(`${this.entriesPrefix}${under}`)) {
      for (const key of page) {
        const name = key.slice(this.entriesPrefix.length);
        if (under === '' || name === under || name.startsWith(`${under}/`)) names.push(name);
      }
    }
    return names;
  }

  private async state(): Promise<IndexState | undefined> {
    const body = await this.objects.read(this.stateKey);
    if (!body) return undefined;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Partial<IndexState>;
      return typeof parsed.builtAt === 'string' ? { builtAt: parsed.builtAt } : undefined;
    } catch (error) {
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Builds the index from a walk of `repositories/` (one build at a time per process). */
  build(): Promise<void> {
    this.building ??= this.buildOnce().finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  private async buildOnce(): Promise<void> {
    const builtAt = new Date().toISOString();
    const found = new Set<string>();
    await this.discover('', found);
    // Entries for repositories that are gone (written by an earlier index, deleted elsewhere).
    for (const name of await this.entries('')) found.add(name);
    const names = [...found];
    for (let start = 0; start < names.length; start += BUILD_PARALLEL) {
      await Promise.all(names.slice(start, start + BUILD_PARALLEL).map((name) => this.reconcile(name)));
    }
    await this.objects.put(
      this.stateKey,
      Buffer.from(JSON.stringify({ builtAt } satisfies IndexState)),
      'application/json',
    );
  }

  private async children(path: string): Promise<string[]> {
    try {
      return await this.list(path);
    } catch (error) {
      if (error instanceof PathNotFoundError) return [];
      throw error;
    }
  }

  private async exists(name: string): Promise<boolean> {
    const entries = await this.children(paths.repository(name));
    return paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker));
  }

  private async discover(prefix: string, found: Set<string>): Promise<void> {
    const entries = await this.children(prefix ? paths.repository(prefix) : paths.REPOSITORIES_ROOT);
    if (prefix && paths.REPOSITORY_MARKERS.some((marker) => entries.includes(marker))) found.add(prefix);
    const nested = entries.filter((entry) => !entry.startsWith('_') && !entry.startsWith('.'));
    for (let start = 0; start < nested.length; start += BUILD_PARALLEL) {
      await Promise.all(
        nested
          .slice(start, start + BUILD_PARALLEL)
          .map((entry) => this.discover(prefix ? `${prefix}/${entry}` : entry, found)),
      );
    }
  }
}

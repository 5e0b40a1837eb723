/**
 * The filesystem driver's repository index, on the design of the object-storage drivers'
 * (bucket/catalog-index.ts): one empty file per repository, so `GET /v2/_catalog` never walks
 * `repositories/`.
 *
 *   <root>/docker/registry/v2/_berth/catalog/
 *     repositories/<name, "/" written as ":">   one empty file per repository
 *     state                                     {"builtAt","verifiedAt"}: the index is complete
 *                                               as of the last walk (absent: never built)
 *     snapshot                                  the names in byte order, one a line, after a
 *                                               first line naming the entries folder's mtime
 *                                               they were read at (a cache of the folder)
 *
 * Distribution reads only `blobs/` and `repositories/`, so it never sees this folder, and Berth's
 * own layout stays Distribution's.
 *
 * Kept correct by the writes themselves, from any number of processes, with no lock:
 * - a write that can create a repository (a link under `_layers` or `_manifests`) stores the link
 *   first, then creates the entry (opening it for append: nothing changes when it exists);
 * - a delete that can end a repository removes the entry when the repository is gone, then checks
 *   once more and puts the entry back when it came back meanwhile. A writer's link is stored before
 *   its entry, so either the deleter's second check sees the link or the entry is created after
 *   the deleter removed it.
 *
 * Never trusted blindly. What can make it stale, and how that is found:
 * - no index yet (a folder Distribution wrote, an older Berth, the index folder removed): `state`
 *   is absent, so the first listing waits for a build from a walk of `repositories/`;
 * - a process that stopped between a link and its entry (a crash, a kill): the first listing of
 *   every process starts a verification in the background, a walk that yields to the event loop,
 *   adds what the walk found and reconciles entries it did not find;
 * - repositories created or removed by a writer that does not know the index (Distribution on the
 *   same folder, a copy by hand): a listing made when the last verification (of any process,
 *   read from `state`) is older than VERIFY_INTERVAL_MS starts another one, so they appear within
 *   that interval and one walk. Listings never wait for a verification.
 *
 * In read-only mode (`storage.maintenance.readonly`) nothing on disk may change, so the index is
 * not built, verified or snapshotted there: a listing reads the entries a writable Berth left when
 * `state` says they are complete, and otherwise walks `repositories/` into memory (again once the
 * walk is older than VERIFY_INTERVAL_MS).
 *
 * Reading it: names are kept in memory, checked on every listing by one `stat` of the entries
 * folder (creating or removing an entry changes its modification time, whoever does it). Since
 * file times are coarse, names read from a folder changed less than QUIET_MS earlier are used
 * once and read again next time. A process that starts reads `snapshot` when it names the
 * folder's current time (a few milliseconds at 100,000 names) and the folder otherwise.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RepositoryIndex } from '../driver.js';
import { writeFileAtomically } from './atomic.js';
import * as paths from '../paths.js';

/** A verification older than this (by any process) is repeated in the background on the next listing. */
export const VERIFY_INTERVAL_MS = 60_000;
/** Names read from an entries folder changed less than this long before are read again next time. */
export const QUIET_MS = 3_000;
/** Folders listed between two yields to the event loop during a walk. */
const WALK_BATCH = 64;

interface IndexState {
  builtAt: string;
  verifiedAt: string;
}

interface Loaded {
  /** The entries folder's mtime (ns) the names were read at. */
  version: bigint;
  /** Read from a folder quiet for QUIET_MS: valid while the folder's mtime is unchanged. */
  settled: boolean;
  names: readonly string[];
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

/** Entry file names: repository names never hold ":", and "/" cannot be in a file name. */
export function entryName(name: string): string {
  return name.replaceAll('/', ':');
}

function repositoryName(entry: string): string {
  return entry.replaceAll(':', '/');
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class FilesystemRepositoryIndex implements RepositoryIndex {
  /** Writers that do not know the index exist, so garbage collection walks (catalog.ts). */
  readonly complete = false;
  private readonly folder: string;
  private readonly entries: string;
  private readonly stateFile: string;
  private readonly snapshotFile: string;
  private loaded?: Loaded;
  private verifying?: Promise<void>;
  /** Whether this process has started its first verification. */
  private verifiedOnce = false;
  /** Read-only mode: the last walk's names, kept in memory only. */
  private walked?: { at: number; names: readonly string[] };
  private readonly readOnly: boolean;

  constructor(
    /** The storage root on the host. */
    private readonly root: string,
    /** Where temporary files are written before a rename (same filesystem). */
    private readonly tempFolder: string,
    options: { readOnly?: boolean } = {},
  ) {
    this.readOnly = options.readOnly ?? false;
    this.folder = join(root, paths.CATALOG_INDEX);
    this.entries = join(this.folder, 'repositories');
    this.stateFile = join(this.folder, 'state');
    this.snapshotFile = join(this.folder, 'snapshot');
  }

  // Writes

  add(name: string): void {
    const file = join(this.entries, entryName(name));
    try {
      closeSync(openSync(file, 'a'));
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      mkdirSync(this.entries, { recursive: true });
      closeSync(openSync(file, 'a'));
    }
  }

  /** Makes the entry of `name` agree with storage (the file comment says why in this order). */
  reconcile(name: string): void {
    if (this.exists(name)) {
      this.add(name);
      return;
    }
    try {
      unlinkSync(join(this.entries, entryName(name)));
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
    if (this.exists(name)) this.add(name);
  }

  /** Reconciles every entry at or below `under` ("" for all): a whole folder was deleted. */
  reconcileBelow(under: string): void {
    for (const name of this.readEntries()) {
      if (under === '' || name === under || name.startsWith(`${under}/`)) this.reconcile(name);
    }
  }

  // Reads

  async all(): Promise<readonly string[]> {
    if (this.readOnly) return this.allWithoutWriting();
    const state = this.state();
    if (!state) {
      await this.verify();
    } else if (!this.verifiedOnce || Date.now() - Date.parse(state.verifiedAt) > VERIFY_INTERVAL_MS) {
      void this.verify().catch(() => undefined);
    }
    return this.current();
  }

  private async allWithoutWriting(): Promise<readonly string[]> {
    if (this.state()) return this.readEntries().sort(compareBytes);
    if (!this.walked || Date.now() - this.walked.at > VERIFY_INTERVAL_MS) {
      const found = new Set<string>();
      await this.discover(found);
      this.walked = { at: Date.now(), names: [...found].sort(compareBytes) };
    }
    return this.walked.names;
  }

  /** The names in the entries folder now, from memory or the snapshot when the folder is unchanged. */
  private current(): readonly string[] {
    const version = this.folderVersion();
    if (version === undefined) return [];
    const loaded = this.loaded;
    if (loaded?.settled && loaded.version === version) return loaded.names;
    const fromSnapshot = loaded ? undefined : this.readSnapshot(version);
    if (fromSnapshot) {
      this.loaded = { version, settled: true, names: fromSnapshot };
      return fromSnapshot;
    }
    const names = this.readEntries().sort(compareBytes);
    const settled = Date.now() - Number(version / 1_000_000n) >= QUIET_MS;
    // Read again: an entry added while listing may have left the time as it was read.
    const after = this.folderVersion();
    this.loaded = { version, settled: settled && after === version, names };
    if (this.loaded.settled) this.writeSnapshot(version, names);
    return names;
  }

  private folderVersion(): bigint | undefined {
    const info = statSync(this.entries, { bigint: true, throwIfNoEntry: false });
    return info?.mtimeNs;
  }

  private readEntries(): string[] {
    try {
      return readdirSync(this.entries).map(repositoryName);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
  }

  private readSnapshot(version: bigint): string[] | undefined {
    let text: string;
    try {
      text = readFileSync(this.snapshotFile, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    const lines = text.split('\n');
    if (lines[0] !== version.toString() || lines[lines.length - 1] !== '') return undefined; // stale or cut short
    return lines.slice(1, -1);
  }

  private writeSnapshot(version: bigint, names: readonly string[]): void {
    this.writeAtomically(this.snapshotFile, `${version}\n${names.map((name) => `${name}\n`).join('')}`);
  }

  private state(): IndexState | undefined {
    try {
      const parsed = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Partial<IndexState>;
      if (typeof parsed.builtAt !== 'string' || typeof parsed.verifiedAt !== 'string') return undefined;
      return { builtAt: parsed.builtAt, verifiedAt: parsed.verifiedAt };
    } catch (error) {
      if (isErrno(error, 'ENOENT') || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  // Verification

  /** Walks `repositories/` and makes the index agree with it (one walk at a time per process). */
  verify(): Promise<void> {
    this.verifiedOnce = true;
    this.verifying ??= this.verifyOnce().finally(() => {
      this.verifying = undefined;
    });
    return this.verifying;
  }

  private async verifyOnce(): Promise<void> {
    const startedAt = new Date().toISOString();
    const found = new Set<string>();
    await this.discover(found);
    const indexed = new Set(this.readEntries());
    // Storage is checked again for every difference: a repository found by the walk may have been
    // removed since, one the walk did not find may have been created after it passed its place.
    for (const name of found) if (!indexed.has(name)) this.reconcile(name);
    for (const name of indexed) if (!found.has(name)) this.reconcile(name);
    const builtAt = this.state()?.builtAt ?? startedAt;
    this.writeAtomically(this.stateFile, JSON.stringify({ builtAt, verifiedAt: startedAt } satisfies IndexState));
  }

  /** Every repository below `repositories/`, listing folders in batches between yields to the event loop. */
  private async discover(found: Set<string>): Promise<void> {
    const pending: string[] = [''];
    let listed = 0;
    while (pending.length > 0) {
      const prefix = pending.pop()!;
      const children = this.children(prefix);
      if (prefix && paths.REPOSITORY_MARKERS.some((marker) => children.includes(marker))) found.add(prefix);
      for (const child of children) {
        if (!child.startsWith('_') && !child.startsWith('.')) pending.push(prefix ? `${prefix}/${child}` : child);
      }
      listed += 1;
      if (listed % WALK_BATCH === 0) await yieldToEventLoop();
    }
  }

  private children(prefix: string): string[] {
    const folder = join(this.root, prefix ? paths.repository(prefix) : paths.REPOSITORIES_ROOT);
    try {
      return readdirSync(folder);
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return [];
      throw error;
    }
  }

  private exists(name: string): boolean {
    return this.children(name).some((child) => (paths.REPOSITORY_MARKERS as readonly string[]).includes(child));
  }

  private writeAtomically(file: string, content: string): void {
    writeFileAtomically(file, join(this.tempFolder, randomUUID()), content);
  }
}

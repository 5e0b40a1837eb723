/**
 * Storage accounting as it is kept in storage, so that any process (a server starting, `berth du`
 * beside a running server) reads the figures without walking the registry:
 *
 * - a **record** per repository (`_berth/usage/repositories/<name>/_usage`): the digests its
 *   manifests need with their sizes, its tag and manifest counts. Whoever changes a repository
 *   writes its record again, read from the repository's links after the change;
 * - a **change mark** per record written (`_berth/usage/changes/<key>`, holding the name), so
 *   readers learn which records to read again without listing every record;
 * - a **snapshot** of every record (`_berth/usage/snapshots/<id>`), and the **state**
 *   (`_berth/usage/state`): which snapshot is current, which marks it folded in, when storage
 *   was last walked to verify the records. A reader takes the snapshot, then the records the
 *   remaining marks name.
 *
 * A writer stores the record, then the mark; compaction lists the marks, reads the records they
 * name, writes a snapshot and the state, then deletes those marks. So a deleted mark's record was
 * read after the mark existed, and a reader that sees the state change while it reads starts
 * again. Distribution reads only `blobs/` and `repositories/` and never sees this folder.
 */
import { randomUUID } from 'node:crypto';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import { pace } from '../../storage/pace.js';
import * as paths from '../../storage/paths.js';
import { deleteIfPresent, listIfPresent } from '../links.js';
import type { RepositoryContent } from './usage-index.js';

/** What one repository's manifests need, as its record holds it. */
export type UsageRecord = RepositoryContent;

export interface UsageState {
  /** The current snapshot's id. */
  snapshot: string;
  /** When the records were first built from a walk of storage (ISO). */
  builtAt: string;
  /** When the last walk that verified every record started (ISO). */
  verifiedAt: string;
  /** The marks the current snapshot folded in (deleted once the state is written). */
  folded: string[];
}

const SNAPSHOT_FORMAT = 1;
/** A snapshot no state names is deleted once this old: a reader may still be reading it. */
const SNAPSHOT_KEEP_MS = 10 * 60_000;

export function sameRecord(a: UsageRecord | undefined, b: UsageRecord | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.tags !== b.tags || a.manifests !== b.manifests || a.blobs.size !== b.blobs.size) return false;
  for (const [digest, size] of a.blobs) if (b.blobs.get(digest) !== size) return false;
  return true;
}

function encodeRecord(record: UsageRecord): string {
  return JSON.stringify({ tags: record.tags, manifests: record.manifests, blobs: Object.fromEntries(record.blobs) });
}

function decodeRecord(text: string): UsageRecord | undefined {
  try {
    const parsed = JSON.parse(text) as { tags?: unknown; manifests?: unknown; blobs?: unknown };
    if (typeof parsed.tags !== 'number' || typeof parsed.manifests !== 'number') return undefined;
    if (typeof parsed.blobs !== 'object' || parsed.blobs === null) return undefined;
    const blobs = new Map<string, number>();
    for (const [digest, size] of Object.entries(parsed.blobs)) if (typeof size === 'number') blobs.set(digest, size);
    return { tags: parsed.tags, manifests: parsed.manifests, blobs };
  } catch {
    return undefined;
  }
}

async function readIfPresent(driver: StorageDriver, path: string): Promise<string | undefined> {
  try {
    return (await driver.getContent(path)).toString('utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Snapshot text: a header line (JSON), one line per distinct digest (`<digest> <size>`), then one
 * line per repository (JSON `[name, tags, manifests, [digest line numbers]]`), newline-terminated,
 * so a file cut short is recognised.
 */
export async function encodeSnapshot(id: string, records: ReadonlyMap<string, UsageRecord>): Promise<string> {
  const numbers = new Map<string, number>();
  const digestLines: string[] = [];
  const repositoryLines: string[] = [];
  for (const [name, record] of records) {
    const indexes: number[] = [];
    for (const [digest, size] of record.blobs) {
      let number = numbers.get(digest);
      if (number === undefined) {
        number = digestLines.length;
        numbers.set(digest, number);
        digestLines.push(`${digest} ${size}\n`);
      }
      indexes.push(number);
    }
    repositoryLines.push(`${JSON.stringify([name, record.tags, record.manifests, indexes])}\n`);
    await pace();
  }
  const header = { format: SNAPSHOT_FORMAT, id, digests: digestLines.length, repositories: repositoryLines.length };
  return `${JSON.stringify(header)}\n${digestLines.join('')}${repositoryLines.join('')}`;
}

/** The records of a snapshot, or undefined when it is not the snapshot `id` or is damaged. */
export async function decodeSnapshot(text: string, id: string): Promise<Map<string, UsageRecord> | undefined> {
  if (!text.endsWith('\n')) return undefined;
  const lines = text.split('\n');
  let header: { format?: unknown; id?: unknown; digests?: unknown; repositories?: unknown };
  try {
    header = JSON.parse(lines[0]!) as typeof header;
  } catch {
    return undefined;
  }
  const { digests, repositories } = header;
  if (header.format !== SNAPSHOT_FORMAT || header.id !== id) return undefined;
  if (typeof digests !== 'number' || typeof repositories !== 'number') return undefined;
  if (lines.length !== 1 + digests + repositories + 1) return undefined;
  const table: Array<[string, number]> = [];
  for (let at = 1; at <= digests; at++) {
    const line = lines[at]!;
    const space = line.indexOf(' ');
    table.push([line.slice(0, space), Number(line.slice(space + 1))]);
  }
  const records = new Map<string, UsageRecord>();
  for (let at = 1 + digests; at <= digests + repositories; at++) {
    const [name, tags, manifests, indexes] = JSON.parse(lines[at]!) as [string, number, number, number[]];
    const blobs = new Map<string, number>();
    for (const index of indexes) {
      const entry = table[index];
      if (!entry) return undefined;
      blobs.set(entry[0], entry[1]);
    }
    records.set(name, { tags, manifests, blobs });
    await pace();
  }
  return records;
}

export class UsageStore {
  constructor(private readonly driver: StorageDriver) {}

  async readRecord(name: string): Promise<UsageRecord | undefined> {
    const text = await readIfPresent(this.driver, paths.usageRecord(name));
    return text === undefined ? undefined : decodeRecord(text);
  }

  async hasRecord(name: string): Promise<boolean> {
    try {
      return !(await this.driver.stat(paths.usageRecord(name))).isDir;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Stores what `name` needs now (undefined: the repository is gone), then marks the change. */
  async writeRecord(name: string, record: UsageRecord | undefined): Promise<void> {
    if (record) await this.driver.putContent(paths.usageRecord(name), encodeRecord(record));
    else await deleteIfPresent(this.driver, paths.usageRecord(name));
  }

  /** Marks that `name`'s record changed; returns the mark's key. */
  async mark(name: string): Promise<string> {
    const key = `${Date.now().toString(36)}-${randomUUID()}`;
    await this.driver.putContent(paths.usageChange(key), name);
    return key;
  }

  listMarks(): Promise<string[]> {
    return listIfPresent(this.driver, paths.USAGE_CHANGES);
  }

  /** The repository a mark names; undefined when the mark is gone (folded into a snapshot meanwhile). */
  readMark(key: string): Promise<string | undefined> {
    return readIfPresent(this.driver, paths.usageChange(key));
  }

  async deleteMarks(keys: Iterable<string>): Promise<void> {
    for (const key of keys) await deleteIfPresent(this.driver, paths.usageChange(key));
  }

  async readState(): Promise<UsageState | undefined> {
    const text = await readIfPresent(this.driver, paths.USAGE_STATE);
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as Partial<UsageState>;
      if (typeof parsed.snapshot !== 'string' || typeof parsed.builtAt !== 'string') return undefined;
      if (typeof parsed.verifiedAt !== 'string' || !Array.isArray(parsed.folded)) return undefined;
      return parsed as UsageState;
    } catch {
      return undefined;
    }
  }

  async readSnapshot(id: string): Promise<Map<string, UsageRecord> | undefined> {
    const text = await readIfPresent(this.driver, paths.usageSnapshot(id));
    return text === undefined ? undefined : decodeSnapshot(text, id);
  }

  /**
   * Writes `records` as a new snapshot and makes it current (`state` without `snapshot`); then
   * removes the marks it folded in, the snapshot it replaced, and any snapshot nothing has named
   * for a while (left by two processes compacting at once). A reader of a removed snapshot finds
   * it gone and reads the state again.
   */
  async writeSnapshot(records: ReadonlyMap<string, UsageRecord>, state: Omit<UsageState, 'snapshot'>): Promise<string> {
    const id = randomUUID();
    await this.driver.putContent(paths.usageSnapshot(id), await encodeSnapshot(id, records));
    const replaced = (await this.readState())?.snapshot;
    await this.driver.putContent(paths.USAGE_STATE, JSON.stringify({ snapshot: id, ...state } satisfies UsageState));
    await this.deleteMarks(state.folded);
    if (replaced !== undefined && replaced !== id) await deleteIfPresent(this.driver, paths.usageSnapshot(replaced));
    for (const old of await listIfPresent(this.driver, paths.USAGE_SNAPSHOTS)) {
      if (old === id) continue;
      try {
        const info = await this.driver.stat(paths.usageSnapshot(old));
        if (Date.now() - info.modTime.getTime() > SNAPSHOT_KEEP_MS)
          await deleteIfPresent(this.driver, paths.usageSnapshot(old));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return id;
  }
}

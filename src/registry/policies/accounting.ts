/**
 * Storage accounting (docs/policies.md): how many bytes each repository and namespace really
 * uses, counting shared layers once, answered without walking the registry.
 *
 * The figures live in storage (usage-store.ts): a record per repository, written by whoever
 * changes it (a manifest push or delete, a tag delete, the first link into a new repository, a
 * garbage collection sweep), a change mark per record written, and a snapshot. A process loads
 * the snapshot once, then before each answer reads the records the new marks name, so it sees
 * every Berth process's writes (workers, instances, `berth du` beside a server) at once, and an
 * answer costs a listing of the marks plus the size of the report.
 *
 * Writers that do not know the records (Distribution on the same folder, a copy by hand, a
 * process killed between a link and its record) are found by verification: a walk of every
 * repository, in the background, that yields to the event loop and writes again each record
 * that differs from the repository. One process at a time verifies (a lease in storage), every
 * `berth.accounting.rescan`, counted from the last verification of any of them. With no records
 * yet (a folder Distribution or an older Berth wrote), the first answer waits for a walk that
 * builds them. In read-only mode nothing is written: the records are read as they are, and
 * verification corrects the figures in memory only.
 *
 * A repository's bytes are what its manifest revisions need: the manifests, their configs and
 * layers, index children. Blobs uploaded but referenced by no manifest are not counted: they
 * are garbage collection's to free, and a push refused by a quota leaves nothing counted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../../storage/driver.js';
import { pace } from '../../storage/pace.js';
import * as paths from '../../storage/paths.js';
import { StorageLease } from '../../shared/storage-lease.js';
import type { Catalog } from '../catalog.js';
import { mapLimit } from '../gc/scan.js';
import { KeyedLock } from '../keyed-lock.js';
import { UsageIndex, type NamespaceUsage, type RepositoryUsage, type UsageTotals } from './usage-index.js';
import { UsageReader } from './usage-reader.js';
import { sameRecord, UsageStore, type UsageRecord, type UsageState } from './usage-store.js';

export interface UsageReport {
  /** When the last walk that verified the figures against storage started (ISO time). */
  scannedAt: string;
  total: UsageTotals;
  repositories: RepositoryUsage[];
  namespaces: NamespaceUsage[];
}

export interface AccountingOptions {
  /** `berth.accounting.rescan`: how often storage is walked to verify the records; 0: never on its own. */
  verifyMs?: number;
  /** `storage.maintenance.readonly`: write nothing, not even the records. */
  readOnly?: boolean;
  onError?: (error: unknown, message: string) => void;
}

/** Repositories read at once by a verification walk. */
const PARALLEL = 8;
/** Marks read at once. */
const READ_PARALLEL = 32;
/** How often a server folds marks into a new snapshot and checks whether a verification is due. */
export const MAINTENANCE_MS = 60_000;
/** Past this many marks, a reader that can write folds them into a snapshot before it answers. */
const COMPACT_MARKS = 1_000;
/** A server that does not use the figures folds the marks only past this many (loading the figures for it). */
const IDLE_COMPACT_MARKS = 10_000;
/** A server folds marks older than this into a snapshot, however few (so a later start reads few). */
const COMPACT_AGE_MS = 5 * 60_000;
/** The maintenance lease; renewed every third of it while a walk goes on. */
const LEASE_TTL_MS = 60_000;
/** How often a process with no records to read looks again while another process builds them. */
const BUILD_POLL_MS = 500;

type Walk = 'build' | 'verify';

export class StorageAccounting {
  private readonly reader: UsageReader;
  private readonly store: UsageStore;
  private readonly lease: StorageLease;
  private index: UsageIndex;
  /** The state of the snapshot the index was loaded from; undefined before, or with no records in storage. */
  private loaded: UsageState | undefined;
  /** Marks whose records the index holds. */
  private applied = new Set<string>();
  /** Repositories with a record, as far as this process knows: a link into one of them changes nothing. */
  private readonly present = new Set<string>();
  /** A server's: verifies on its own when due (`start`); a command verifies only when asked. */
  private automatic = false;
  /** Whether the figures were asked for (a report, a quota check): only then are they kept in memory. */
  private wanted = false;
  /** When the figures were last verified against a walk (ms since the epoch; by any process). */
  private verifiedAt = 0;
  private builtAt: string | undefined;
  private readonly serial = new KeyedLock();
  /** Record writes queued and not started, by repository: a later change joins them. */
  private readonly queued = new Map<string, Promise<void>>();
  private readying: Promise<void> | undefined;
  private walking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Set when the server closes: a walk in progress stops at its next repository. */
  private stopped = false;

  constructor(
    driver: StorageDriver,
    private readonly catalog: Catalog,
    private readonly options: AccountingOptions = {},
  ) {
    this.reader = new UsageReader(driver, catalog);
    this.store = new UsageStore(driver);
    this.lease = new StorageLease(driver, paths.USAGE_LEASE, LEASE_TTL_MS);
    this.index = this.emptyIndex();
  }

  private emptyIndex(): UsageIndex {
    return new UsageIndex((digest) => this.reader.size(digest));
  }

  // Writes ------------------------------------------------------------------------------------

  /**
   * A write changed what `name` holds: its record is read from the repository and stored again,
   * before this resolves. Never throws: a record that could not be written is logged, and the
   * next verification writes it.
   */
  changed(name: string): Promise<void> {
    if (this.options.readOnly) return Promise.resolve();
    const queued = this.queued.get(name);
    if (queued) return queued;
    const run = this.serial
      .run(`repository:${name}`, async () => {
        this.queued.delete(name);
        await this.record(name, true);
      })
      .catch((error: unknown) => this.options.onError?.(error, `storage accounting: recording ${name} failed`));
    this.queued.set(name, run);
    return run;
  }

  /** A link was written into `name`: only the first one can change its figures (it creates the repository). */
  async linked(name: string): Promise<void> {
    if (this.present.has(name) || this.options.readOnly) return;
    // One look at the record: a repository that has one exists already, whether or not the figures are loaded.
    if (await this.store.hasRecord(name)) this.present.add(name);
    else await this.changed(name);
  }

  /**
   * Reads `name` and stores its record, marked so every reader reads it (`mark` false: while
   * building, when the snapshot written at the end carries it). Always written, even when the
   * index holds the same: a mark of this process not yet applied may name an older record.
   *
   * Another process writing the same repository at the same moment may store its record last,
   * read before this write: so the repository is read once more after the record is stored, and
   * the record written again when that reading differs.
   */
  private async record(name: string, mark: boolean): Promise<UsageRecord | undefined> {
    let content = await this.reader.read(name);
    await this.store.writeRecord(name, content);
    if (mark) {
      await this.store.mark(name);
      const again = await this.reader.read(name);
      if (!sameRecord(again, content)) {
        content = again;
        await this.store.writeRecord(name, content);
        await this.store.mark(name);
      }
    }
    if (content) this.present.add(name);
    else this.present.delete(name);
    return content;
  }

  // Reads -------------------------------------------------------------------------------------

  /** The index, with every record written so far. */
  async current(): Promise<UsageIndex> {
    this.wanted = true;
    const index = await this.brought();
    this.verifyIfDue();
    return index;
  }

  /** The index loaded and brought up to date, without counting as a use of the figures. */
  private async brought(): Promise<UsageIndex> {
    await this.ready();
    await this.serial.run('index', () => this.applyMarks());
    return this.index;
  }

  async totals(): Promise<UsageTotals & { scannedAt: string }> {
    const index = await this.current();
    return { ...index.totals(), scannedAt: new Date(this.verifiedAt).toISOString() };
  }

  /** Figures for the repositories `include` accepts (all when absent), and the namespaces they are in. */
  async report(include?: (name: string) => boolean): Promise<UsageReport> {
    const index = await this.current();
    const repositories: RepositoryUsage[] = [];
    const namespaces = new Set<string>();
    for (const name of index.sortedNames()) {
      if (include && !include(name)) continue;
      const usage = index.repository(name)!;
      repositories.push(usage);
      namespaces.add(usage.namespace);
    }
    return {
      scannedAt: new Date(this.verifiedAt).toISOString(),
      total: index.totals(),
      repositories,
      namespaces: [...namespaces].sort().map((name) => index.namespace(name)!),
    };
  }

  /** Stored sizes of digests not seen before (for quota checks of a push). */
  learnSizes(digests: Iterable<string>): Promise<void> {
    return this.reader.learnSizes(digests);
  }

  /** The size of content about to be stored (a manifest being pushed), known without a stat. */
  noteSize(digest: string, size: number): void {
    this.reader.noteSize(digest, size);
  }

  /** When the figures were last verified against a walk of storage (ms since the epoch; 0: never). */
  get lastVerified(): number {
    return this.verifiedAt;
  }

  // Loading -----------------------------------------------------------------------------------

  private ready(): Promise<void> {
    this.readying ??= this.loadOrBuild().catch((error: unknown) => {
      this.readying = undefined;
      throw error;
    });
    return this.readying;
  }

  /** Loads the snapshot; with none, builds the records from a walk, or waits for the process building them. */
  private async loadOrBuild(): Promise<void> {
    for (;;) {
      if (await this.serial.run('index', () => this.load())) return;
      if (this.options.readOnly) return this.walk('build');
      if (await this.lease.claim()) return this.walk('build');
      await sleep(BUILD_POLL_MS);
    }
  }

  /** The index from the current snapshot; false when storage holds none (or only a damaged one). */
  private async load(): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = await this.store.readState();
      if (!state) return false;
      const records = await this.store.readSnapshot(state.snapshot);
      if (!records) continue; // replaced while being read: read the state again
      this.index = this.emptyIndex();
      this.present.clear();
      for (const [name, record] of records) {
        this.apply(name, record);
        await pace();
      }
      this.adopt(state);
      this.applied = new Set(state.folded);
      return true;
    }
    return false;
  }

  private adopt(state: UsageState): void {
    this.loaded = state;
    this.builtAt = state.builtAt;
    this.verifiedAt = Date.parse(state.verifiedAt);
  }

  /**
   * Reads the records that marks not yet applied name. When another process wrote a new snapshot
   * meanwhile and folded in marks this process never read, the snapshot is loaded again.
   */
  private async applyMarks(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = await this.store.readState();
      if (state && state.snapshot !== this.loaded?.snapshot) {
        if (this.loaded && state.folded.every((mark) => this.applied.has(mark))) this.adopt(state);
        else if (!(await this.load())) continue;
      }
      const marks = await this.store.listMarks();
      const fresh = marks.filter((mark) => !this.applied.has(mark));
      const named = await mapLimit(fresh, READ_PARALLEL, (mark) => this.store.readMark(mark));
      const names = [...new Set(named.filter((name) => name !== undefined))];
      const records = await mapLimit(names, READ_PARALLEL, (name) => this.store.readRecord(name));
      for (const [at, name] of names.entries()) this.apply(name, records[at]);
      const listed = new Set(marks);
      this.applied = new Set([...this.applied].filter((mark) => listed.has(mark)));
      for (const [at, mark] of fresh.entries()) if (named[at] !== undefined) this.applied.add(mark);
      // A snapshot written while the marks were read may have folded in some this one missed.
      if ((await this.store.readState())?.snapshot === state?.snapshot) return;
    }
  }

  private apply(name: string, record: UsageRecord | undefined): void {
    if (record) {
      for (const [digest, size] of record.blobs) this.reader.noteSize(digest, size);
      this.present.add(name);
    } else this.present.delete(name);
    this.index.set(name, record);
  }

  // Verification and compaction ---------------------------------------------------------------

  /** Starts the periodic maintenance of a server: folding marks into snapshots, verification when due. */
  start(): void {
    if (this.timer) return;
    this.automatic = true;
    this.timer = setInterval(() => void this.maintain(), MAINTENANCE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.automatic = false;
    this.stopped = true;
  }

  private async maintain(): Promise<void> {
    try {
      if (!this.wanted) {
        // Nobody here uses the figures: they are loaded only to fold many marks, then let go.
        if (this.options.readOnly || (await this.store.listMarks()).length < IDLE_COMPACT_MARKS) return;
        await this.brought();
        await this.compact();
        await this.serial.run('index', async () => this.unload());
        return;
      }
      await this.brought();
      if (this.applied.size >= COMPACT_MARKS || this.oldestMarkAge() >= COMPACT_AGE_MS) await this.compact();
    } catch (error) {
      this.options.onError?.(error, 'storage accounting: maintenance failed');
    }
  }

  /** Drops the figures from memory, unless they were asked for meanwhile; the next use loads them again. */
  private unload(): void {
    if (this.wanted) return;
    this.readying = undefined;
    this.loaded = undefined;
    this.index = this.emptyIndex();
    this.applied = new Set();
  }

  /** How long ago the oldest mark applied was written (a mark's key starts with its time); 0 with none. */
  private oldestMarkAge(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const mark of this.applied) {
      const at = Number.parseInt(mark.slice(0, mark.indexOf('-')), 36);
      if (Number.isFinite(at)) oldest = Math.min(oldest, at);
    }
    return Number.isFinite(oldest) ? Date.now() - oldest : 0;
  }

  /** Folds the marks into a new snapshot when there are many (a reader that can write, before answering). */
  async compactIfMany(): Promise<void> {
    await this.current();
    if (this.applied.size >= COMPACT_MARKS) await this.compact();
  }

  private verifyIfDue(): void {
    const every = this.options.verifyMs ?? 0;
    if (!this.automatic || every <= 0 || this.walking || Date.now() - this.verifiedAt < every) return;
    void this.verify().catch((error: unknown) =>
      this.options.onError?.(error, 'storage accounting: verification failed'),
    );
  }

  /**
   * Walks every repository and writes again each record that differs from it; resolves when
   * done. Another process already verifying (holding the lease) makes this a no-op, unless
   * `evenIfBusy` (a command asked to verify): two walks at once only repeat work.
   */
  async verify(options: { evenIfBusy?: boolean } = {}): Promise<void> {
    await this.ready();
    if (this.walking) return this.walking;
    if (!this.options.readOnly && !(await this.lease.claim()) && !options.evenIfBusy) return;
    return this.walk('verify');
  }

  /** One walk at a time per process; the lease, when held, is renewed while it lasts and released after. */
  private walk(kind: Walk): Promise<void> {
    this.walking ??= (async () => {
      const renewal = this.options.readOnly
        ? undefined
        : setInterval(() => void this.lease.claim().catch(() => undefined), LEASE_TTL_MS / 3);
      renewal?.unref();
      try {
        await this.walkOnce(kind);
      } finally {
        clearInterval(renewal);
        if (!this.options.readOnly) await this.lease.release().catch(() => undefined);
        this.walking = undefined;
      }
    })();
    return this.walking;
  }

  private async walkOnce(kind: Walk): Promise<void> {
    const startedAt = Date.now();
    const write = !this.options.readOnly;
    const found = new Map<string, UsageRecord>();
    const names = await this.catalog.all();
    await mapLimit(names, PARALLEL, async (name) => {
      await pace();
      if (this.stopped) return;
      if (kind === 'build' && write) {
        // Under the repository's lock, so a write of this process meanwhile stores its record after this one.
        const record = await this.serial.run(`repository:${name}`, () => this.record(name, false));
        if (record) found.set(name, record);
        return;
      }
      const record = await this.reader.read(name);
      if (record) found.set(name, record);
    });
    if (this.stopped) throw new Error('storage accounting: the walk was stopped (the server is closing)');
    if (kind === 'verify' && write) {
      // Each difference is read again under the repository's lock: the walk's reading may be older than a write since.
      const differing = names.filter((name) => !sameRecord(found.get(name), this.index.content(name)));
      const gone = [...this.index.names()].filter((name) => !found.has(name));
      await mapLimit([...differing, ...gone], PARALLEL, (name) =>
        this.serial.run(`repository:${name}`, () => this.record(name, true)),
      );
    }
    await this.serial.run('index', async () => {
      if (!write) {
        // Read-only: correct the figures in memory, as the walk found them.
        if (kind === 'build') {
          this.index = this.emptyIndex();
          this.present.clear();
        }
        const stale = [...this.index.names()].filter((name) => !found.has(name));
        for (const name of stale) this.apply(name, undefined);
        for (const [name, record] of found) if (!sameRecord(record, this.index.content(name))) this.apply(name, record);
      } else if (kind === 'build') {
        this.index = this.emptyIndex();
        this.present.clear();
        for (const [name, record] of found) this.apply(name, record);
        this.builtAt = new Date(startedAt).toISOString();
        // Not loaded: every mark lists as new, and its record (written after the walk read it) wins.
        this.loaded = undefined;
        this.applied = new Set();
        await this.applyMarks();
      } else {
        await this.applyMarks();
      }
      this.verifiedAt = startedAt;
    });
    if (write) await this.fold(true);
  }

  /** Folds the marks applied so far into a new snapshot, unless another process holds the lease. */
  compact(): Promise<void> {
    return this.fold(false);
  }

  /**
   * Writes the index as a new snapshot folding in the marks applied so far. The caller holds the
   * lease (`held`), or it is claimed here and the work left to its holder when busy.
   */
  private async fold(held: boolean): Promise<void> {
    if (this.options.readOnly) return;
    if (!held && !(await this.lease.claim())) return;
    try {
      const { records, folded } = await this.serial.run('index', async () => {
        await this.applyMarks();
        const records = new Map<string, UsageRecord>();
        for (const name of this.index.names()) records.set(name, this.index.content(name)!);
        return { records, folded: [...this.applied] };
      });
      const verifiedAt = new Date(this.verifiedAt).toISOString();
      const builtAt = this.builtAt ?? verifiedAt;
      const snapshot = await this.store.writeSnapshot(records, { builtAt, verifiedAt, folded });
      await this.serial.run('index', async () => {
        this.adopt({ snapshot, builtAt, verifiedAt, folded });
      });
    } finally {
      if (!held) await this.lease.release().catch(() => undefined);
    }
  }
}

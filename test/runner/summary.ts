/**
 * What a test run adds up to, over one or more node:test runs (test/run.ts makes two passes):
 * the totals node:test reports, every test and suite that did not run (skipped, todo,
 * cancelled) with the reason it gave, and how long each test file took. node:test counts a
 * skipped suite under `suites`, not `skipped`, and its banner scrolls away: the list at the end
 * is what says a suite needing a missing tool did not run.
 */
import { loadavg } from 'node:os';
import { relative } from 'node:path';
import type { run } from 'node:test';

type TestsStream = ReturnType<typeof run>;

export interface FileTime {
  file: string;
  /** Wall time of the file's own process, start-up included. */
  ms: number;
  passed: boolean;
}

/** What `--times FILE` writes; bench/test-times.ts reads it. */
export interface TimesRecord {
  startedAt: string;
  concurrency: number;
  /** Load averages (1, 5, 15 minutes) when the run started and when it ended. */
  loadAtStart: number[];
  loadAtEnd: number[];
  wallMs: number;
  totals: Record<string, number>;
  files: FileTime[];
}

interface NotRun {
  file: string;
  name: string;
  kind: 'skipped' | 'todo' | 'cancelled';
  reason: string;
}

const TOTALS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;
const TOTAL_LINE = /^(tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/;

function fileOf(path: string | undefined): string {
  return path ? relative(process.cwd(), path) : '(no file)';
}

function reasonOf(value: string | boolean | undefined): string {
  return typeof value === 'string' && value.length > 0 ? value : 'no reason given';
}

export class RunSummary {
  readonly files: FileTime[] = [];
  readonly notRun: NotRun[] = [];
  readonly totals = new Map<string, number>(TOTALS.map((name) => [name, 0]));
  private readonly started = Date.now();
  private readonly loadAtStart = loadavg();
  private brokenFile = false;

  /** Takes in the events of one node:test run. */
  listen(stream: TestsStream): void {
    stream.on('test:complete', (data) => {
      // Each file runs as one test named after its path, around everything in it.
      if (data.nesting !== 0 || data.file === undefined || data.name !== data.file) return;
      this.files.push({ file: fileOf(data.file), ms: data.details.duration_ms, passed: data.details.passed });
      if (!data.details.passed) this.brokenFile = true;
    });
    stream.on('test:pass', (data) => {
      if (data.skip !== undefined) this.didNotRun(data.file, data.name, 'skipped', reasonOf(data.skip));
      else if (data.todo !== undefined) this.didNotRun(data.file, data.name, 'todo', reasonOf(data.todo));
    });
    stream.on('test:fail', (data) => {
      const failureType = (data.details.error as { failureType?: string } | undefined)?.failureType;
      if (failureType === 'cancelledByParent')
        this.didNotRun(data.file, data.name, 'cancelled', 'a hook or the suite around it failed first');
      else if (data.todo !== undefined) this.didNotRun(data.file, data.name, 'todo', reasonOf(data.todo));
    });
    stream.on('test:diagnostic', (data) => {
      // The run's own totals come as diagnostics outside any file.
      const match = data.file === undefined && data.nesting === 0 ? TOTAL_LINE.exec(data.message) : null;
      if (match) this.totals.set(match[1]!, (this.totals.get(match[1]!) ?? 0) + Number(match[2]));
    });
  }

  /** Whether the run failed: a test failed or was cancelled, or a file broke outside its tests. */
  get failed(): boolean {
    return (this.totals.get('fail') ?? 0) > 0 || (this.totals.get('cancelled') ?? 0) > 0 || this.brokenFile;
  }

  /** The closing lines: totals over every pass, then what did not run, by file. */
  lines(): string[] {
    const lines = [`all passes: ${TOTALS.map((name) => `${name} ${this.totals.get(name)}`).join(', ')}`];
    if (this.notRun.length === 0) {
      lines.push('every test ran: none skipped, todo or cancelled');
      return lines;
    }
    lines.push(`DID NOT RUN: ${this.notRun.length} (tests and suites skipped, todo or cancelled)`);
    const byFile = new Map<string, NotRun[]>();
    for (const entry of this.notRun) byFile.set(entry.file, [...(byFile.get(entry.file) ?? []), entry]);
    for (const [file, entries] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
      // A helper that skips a whole suite defines the skipped test; its reason names the file.
      lines.push(file.endsWith('.test.ts') ? `  ${file}` : `  ${file} (whole suites skipped by this helper)`);
      for (const entry of entries) lines.push(`    ${entry.kind}: ${entry.name}: ${entry.reason}`);
    }
    return lines;
  }

  record(concurrency: number): TimesRecord {
    return {
      startedAt: new Date(this.started).toISOString(),
      concurrency,
      loadAtStart: this.loadAtStart,
      loadAtEnd: loadavg(),
      wallMs: Date.now() - this.started,
      totals: Object.fromEntries(this.totals),
      files: [...this.files].sort((a, b) => b.ms - a.ms),
    };
  }

  private didNotRun(path: string | undefined, name: string, kind: NotRun['kind'], reason: string): void {
    this.notRun.push({ file: fileOf(path), name, kind, reason });
  }
}

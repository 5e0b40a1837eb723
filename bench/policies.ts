/**
 * What the repository policies cost (docs/policies.md#what-it-costs), in alternating rounds, each
 * figure with min / median / max over the rounds and the 1-minute load average while it was taken
 * (the machine is shared: read figures against their load):
 *
 * 1. Pull times: `GET /v2/<name>/manifests/latest` (the request a pull records its time on) with
 *    hey, against Berth with a retention policy that reads pull times (`keep.pulledwithin`), Berth
 *    with no retention (pull times recorded all the same, the default) and Berth with
 *    `berth.pulls.record: false`; pull times are written every second (`pulls.flushinterval: 1s`,
 *    30 s by default), so the batch writes fall inside each run.
 * 2. Storage accounting at each scale (10,000 and 100,000 repositories by default), over a fixture
 *    written directly on disk (bench/content.ts `writeUsageLayout`: every repository an image of
 *    its own over one shared layer): the first `berth du --json` (no records yet: built from a
 *    walk, once per scale); then per round `berth du --json` twice (each a fresh process: the
 *    first after the other scale's turn, the second at once), `berth --version` for the cost of
 *    starting node alone, and a fresh `berth serve`: its first `GET /_berth/admin/usage` (cold),
 *    warm answers, the whole report, and the answer after a push.
 *
 *   npm run build && node --import tsx bench/policies.ts [--rounds 5] [--seconds 5] [--scales 10000,100000] [--only pulls|usage]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from './client.js';
import { writeLayout, writeUsageLayout } from './content.js';
import { haveLoadGenerator, loadTest } from './loadgen.js';
import { startServer } from './servers.js';
import { formatNumber, median, secondsSince } from './stats.js';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

const ROUNDS = Number(option('rounds') ?? 5);
const SECONDS = Number(option('seconds') ?? 5);
const SCALES = (option('scales') ?? '10000,100000').split(',').map(Number);
const ONLY = option('only');
const CHECKOUT = join(import.meta.dirname, '..');
const CLI = join(CHECKOUT, 'dist/cli/main.js');

/** Values of one figure over the rounds, each with the 1-minute load average when it was taken. */
class Figure {
  private readonly values: number[] = [];
  private readonly loads: number[] = [];

  add(value: number): void {
    this.values.push(value);
    this.loads.push(loadavg()[0]!);
  }

  toString(): string {
    if (this.values.length === 0) return 'n/a';
    const sorted = [...this.values].sort((a, b) => a - b);
    const load = [...this.loads].sort((a, b) => a - b);
    const spread =
      sorted.length === 1
        ? formatNumber(sorted[0]!)
        : `${formatNumber(sorted[0]!)} / ${formatNumber(median(sorted))} / ${formatNumber(sorted.at(-1)!)}`;
    return `${spread} (load ${load[0]!.toFixed(1)}–${load.at(-1)!.toFixed(1)})`;
  }
}

function figures<K extends string>(keys: readonly K[]): Record<K, Figure> {
  return Object.fromEntries(keys.map((key) => [key, new Figure()])) as Record<K, Figure>;
}

function table(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(
    `| --- |${header
      .slice(1)
      .map(() => ' ---: |')
      .join('')}`,
  );
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

// Pull times --------------------------------------------------------------------------------

const PULL_VARIANTS = [
  'retention configured (pull times recorded)',
  'no retention (pull times recorded, the default)',
  'no retention, pulls.record: false',
] as const;

const PULL_CONFIG: Record<(typeof PULL_VARIANTS)[number], string> = {
  // Each continues the berth: section that berthWorkers opens.
  'retention configured (pull times recorded)':
    '  pulls:\n    flushinterval: 1s\n  retention:\n    policies:\n      - repositories: bench/**\n        keep:\n          pulledwithin: 7d\n',
  'no retention (pull times recorded, the default)': '  pulls:\n    flushinterval: 1s\n',
  'no retention, pulls.record: false': '  pulls:\n    record: false\n',
};

async function pulls(): Promise<void> {
  if (!haveLoadGenerator()) throw new Error('hey is missing (Debian package hey)');
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-pulls-'));
  const roots = PULL_VARIANTS.map((_, index) => join(work, `root-${index}`));
  const layout = await writeLayout(roots, 0, 0);
  const rps = figures(PULL_VARIANTS);
  const p99 = figures(PULL_VARIANTS);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order, so no variant gets the machine's quieter moments every time.
      const order = round % 2 === 0 ? PULL_VARIANTS : [...PULL_VARIANTS].reverse();
      for (const variant of order) {
        const server = await startServer('berth', {
          workDir: work,
          root: roots[PULL_VARIANTS.indexOf(variant)]!,
          checkout: CHECKOUT,
          berthWorkers: 1,
          extraConfig: PULL_CONFIG[variant],
          label: `pulls-${PULL_VARIANTS.indexOf(variant)}`,
        });
        try {
          const result = await loadTest({
            url: `${server.url}/v2/${layout.smallRepository}/manifests/latest`,
            method: 'GET',
            headers: ['Accept: application/vnd.oci.image.manifest.v1+json'],
            connections: 32,
            seconds: SECONDS,
          });
          if (result.failures > 0) throw new Error(`${variant}: ${result.failures} failed requests`);
          rps[variant].add(result.rps);
          p99[variant].add(result.p99);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(
    `\nGET manifest by tag, hey -c 32 for ${SECONDS} s, one Berth process, ${ROUNDS} alternating rounds (min / median / max)`,
  );
  table(
    ['Berth', 'requests/s', 'p99 (ms)'],
    PULL_VARIANTS.map((variant) => [variant, rps[variant].toString(), p99[variant].toString()]),
  );
}

// Storage accounting ------------------------------------------------------------------------

const USAGE_FIGURES = [
  'node start alone (`berth --version`), s',
  '`berth du --json`, first of the round, s',
  '`berth du --json`, repeated at once, s',
  '`berth serve`: spawn to first `GET /v2/` 200, s',
  'usage, first answer after start (cold), ms',
  'usage, warm (median of 5 per round), ms',
  'usage, whole report, ms',
  'usage, first answer after a push, ms',
] as const;

interface Scale {
  repositories: number;
  work: string;
  root: string;
  config: string;
  written: number;
  built: number;
  reportBytes: number;
  figures: Record<(typeof USAGE_FIGURES)[number], Figure>;
}

function run(args: string[]): { seconds: number; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const seconds = secondsSince(started);
  if (result.status !== 0) throw new Error(`berth ${args.join(' ')}: ${result.stderr}`);
  return { seconds, stdout: result.stdout };
}

function du(scale: Scale): number {
  const { seconds, stdout } = run(['du', scale.config, '--json']);
  const report = JSON.parse(stdout) as { total: { repositories: number } };
  if (report.total.repositories < scale.repositories)
    throw new Error(`berth du: ${report.total.repositories} repositories, expected ${scale.repositories}`);
  scale.reportBytes = stdout.length;
  return seconds;
}

async function prepare(repositories: number): Promise<Scale> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-usage-'));
  const root = join(work, 'root');
  let started = process.hrtime.bigint();
  await writeUsageLayout(root, repositories);
  const written = secondsSince(started);
  const config = join(work, 'du.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n`);
  const scale: Scale = {
    repositories,
    work,
    root,
    config,
    written,
    built: 0,
    reportBytes: 0,
    figures: figures(USAGE_FIGURES),
  };
  started = process.hrtime.bigint();
  du(scale);
  scale.built = secondsSince(started);
  console.log(
    `${repositories} repositories: fixture written in ${scale.written.toFixed(1)} s; first berth du --json (records built from a walk) ${scale.built.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})`,
  );
  return scale;
}

async function usageRound(scale: Scale, round: number): Promise<void> {
  const figure = scale.figures;
  figure['node start alone (`berth --version`), s'].add(run(['--version']).seconds);
  figure['`berth du --json`, first of the round, s'].add(du(scale));
  figure['`berth du --json`, repeated at once, s'].add(du(scale));

  const server = await startServer('berth', {
    workDir: scale.work,
    root: scale.root,
    checkout: CHECKOUT,
    berthWorkers: 1,
    label: 'usage',
  });
  try {
    figure['`berth serve`: spawn to first `GET /v2/` 200, s'].add(server.startSeconds);
    const usage = async (query: string) => {
      const started = process.hrtime.bigint();
      const reply = await request(`${server.url}/_berth/admin/usage${query}`, { method: 'GET' });
      if (reply.status !== 200) throw new Error(`usage: ${reply.status}`);
      return secondsSince(started) * 1000;
    };
    const some = '?repositories=usage/r00000*';
    figure['usage, first answer after start (cold), ms'].add(await usage(some));
    const warm: number[] = [];
    for (let index = 0; index < 5; index++) warm.push(await usage(some));
    figure['usage, warm (median of 5 per round), ms'].add(median(warm));
    figure['usage, whole report, ms'].add(await usage(''));
    // A push changes one repository: the next answer reads its record, not the registry.
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
    const manifest = await request(`${server.url}/v2/usage/r000000/manifests/latest`, {
      method: 'GET',
      headers: accept,
      keepBody: true,
    });
    const put = await request(`${server.url}/v2/usage/r000000/manifests/round-${round}`, {
      method: 'PUT',
      body: manifest.body!,
      headers: { 'Content-Type': accept.Accept },
    });
    if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
    figure['usage, first answer after a push, ms'].add(await usage(some));
  } finally {
    await server.stop();
  }
}

async function accounting(): Promise<void> {
  const scales: Scale[] = [];
  try {
    for (const repositories of SCALES) scales.push(await prepare(repositories));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? scales : [...scales].reverse();
      for (const scale of order) await usageRound(scale, round);
    }
    console.log(
      `\nStorage accounting, ${ROUNDS} alternating rounds (min / median / max, and the 1-minute load average while measured)`,
    );
    table(
      ['figure', ...scales.map((scale) => `${scale.repositories.toLocaleString('en-US')} repositories`)],
      USAGE_FIGURES.map((name) => [name, ...scales.map((scale) => scale.figures[name].toString())]),
    );
    for (const scale of scales)
      console.log(
        `${scale.repositories} repositories: report ${(scale.reportBytes / 1e6).toFixed(1)} MB of JSON; first build ${scale.built.toFixed(1)} s`,
      );
  } finally {
    for (const scale of scales) rmSync(scale.work, { recursive: true, force: true });
  }
}

console.log(
  `load average at start: ${loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')}`,
);
if (ONLY !== 'usage') await pulls();
if (ONLY !== 'pulls') await accounting();
console.log(
  `load average at the end: ${loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')}`,
);

/**
 * The performance benchmark: Berth (this checkout's dist/) against CNCF Distribution (Debian's
 * docker-registry) on the same machine in the same run. Each workload runs against both,
 * alternating which goes first, for several rounds; the table reports medians and the
 * Berth/Distribution ratio. See docs/performance.md.
 *
 *   npm run bench                  full run (about 6-8 minutes)
 *   npm run bench -- --quick       fewer rounds, shorter load tests
 *   npm run bench -- --rows 1,4    only some rows
 *   npm run bench -- --profile     Berth runs under --cpu-prof (profiles land in the work folder)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { restamp, writeLayout, writeRandomFile, type Layout } from './content.js';
import { haveLoadGenerator } from './loadgen.js';
import { readDirect, readStream, sha256Memory, sha256Stream } from './limits.js';
import { memoryOf, startServer, type RunningServer, type ServerName } from './servers.js';
import { formatNumber, MiB, mbPerSecond, median } from './stats.js';
import * as work from './workloads.js';

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    rows: { type: 'string' },
    'berth-workers': { type: 'string' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 2 : 5));
const rowsWanted = new Set((args.rows ?? '1,2,3,4,5,6,7').split(',').map((row) => row.trim()));
const BLOB_SIZE = 256 * MiB;
const RANGE = { start: 64 * MiB, end: 192 * MiB - 1 };
const LOAD_SECONDS = quick ? 2 : 4;
const CONNECTIONS = 32;
const REPOSITORIES = 10_000;
const TAGS = 10_000;
const CATALOG_PAGE = 1000;
const CI_IMAGES = 50;
const MEMORY_PUSHES = 8;

type Better = 'higher' | 'lower';

interface Row {
  id: string;
  what: string;
  unit: string;
  better: Better;
  /** Ratio Berth/Distribution the issue asks for, or an absolute bound on Berth. */
  target?: { ratio?: number; absolute?: number };
  samples: Record<ServerName, number[]>;
}

const rows: Row[] = [];
function row(id: string, what: string, unit: string, better: Better, target?: Row['target']): Row {
  const created: Row = { id, what, unit, better, target, samples: { berth: [], distribution: [] } };
  rows.push(created);
  return created;
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The order of the two servers in a round: alternating, so neither always goes first. */
function order(round: number, servers: Record<ServerName, RunningServer>): RunningServer[] {
  return round % 2 === 0 ? [servers.berth, servers.distribution] : [servers.distribution, servers.berth];
}

async function main(): Promise<void> {
  if (!existsSync(join(checkout, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` (npm run bench does)');
  const version = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) throw new Error('docker-registry is not installed (apt-get install docker-registry)');
  if (rowsWanted.has('4') && !haveLoadGenerator())
    throw new Error('hey is not installed (apt-get install hey); row 4 needs it');
  const workDir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  log(`work folder ${workDir}; ${rounds} rounds; rows ${[...rowsWanted].join(',')}`);
  const started = Date.now();
  const loadBefore = loadavg();

  const blobFile = join(workDir, 'blob.bin');
  await writeRandomFile(blobFile, BLOB_SIZE);

  // Physical limits on this machine, for context.
  const limits = {
    sha256Stream: await sha256Stream(blobFile, BLOB_SIZE),
    sha256Memory: sha256Memory(),
    readCached: await readStream(blobFile, BLOB_SIZE),
    readDirect: readDirect(blobFile, BLOB_SIZE),
  };

  // The listing workloads' storage, written directly into both fresh folders: identical layouts.
  log(`writing ${REPOSITORIES} repositories and a repository with ${TAGS} tags into both storage folders`);
  const roots: Record<ServerName, string> = {
    berth: join(workDir, 'berth-root'),
    distribution: join(workDir, 'distribution-root'),
  };
  const layout: Layout = await writeLayout([roots.berth, roots.distribution], REPOSITORIES, TAGS);

  const profileDir = join(workDir, 'profiles');
  if (args.profile) mkdirSync(profileDir);
  const servers: Record<ServerName, RunningServer> = {
    berth: await startServer('berth', {
      workDir,
      root: roots.berth,
      checkout,
      berthWorkers: args['berth-workers'] === undefined ? undefined : Number(args['berth-workers']),
      nodeFlags: args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    }),
    distribution: await startServer('distribution', { workDir, root: roots.distribution, checkout }),
  };
  const idle = row('7a', 'resident memory, idle (sum over processes)', 'MB', 'lower');
  const peak = row('7b', `resident memory, peak during ${MEMORY_PUSHES} concurrent 256 MiB pushes`, 'MB', 'lower', {
    absolute: 200,
  });
  // Proportional set size: pages shared between processes (the node binary) counted once.
  const peakPss = row('7c', `proportional memory (PSS), peak during the same pushes`, 'MB', 'lower');
  const processes: Record<ServerName, number> = {
    berth: servers.berth.pids().length,
    distribution: servers.distribution.pids().length,
  };

  try {
    await new Promise((done) => setTimeout(done, 1000));
    for (const server of Object.values(servers)) idle.samples[server.name].push(memoryOf(server.pids()).rss / 1e6);

    if (rowsWanted.has('5')) await listings(servers, layout);
    if (rowsWanted.has('4')) await smallRequests(servers, layout);
    if (rowsWanted.has('1') || rowsWanted.has('2') || rowsWanted.has('3')) await pushesAndPulls(servers, blobFile);
    if (rowsWanted.has('6')) await ciPushes(servers);
    if (rowsWanted.has('7')) {
      log(`row 7: ${MEMORY_PUSHES} concurrent pushes while sampling memory`);
      const digest = await restamp(blobFile, 'memory');
      for (const server of order(0, servers)) {
        const memory = await work.memoryDuringPushes(server, 'mem', blobFile, BLOB_SIZE, digest, MEMORY_PUSHES);
        peak.samples[server.name].push(memory.rss / 1e6);
        peakPss.samples[server.name].push(memory.pss / 1e6);
      }
    }
  } catch (error) {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    removeBulk(workDir);
    log(`failed; logs are in ${workDir}`);
    throw error;
  }
  await Promise.all(Object.values(servers).map((server) => server.stop()));

  const report = renderReport({
    limits,
    processes,
    seconds: (Date.now() - started) / 1000,
    loadBefore,
    loadAfter: loadavg(),
    distributionVersion: version.stdout.trim(),
  });
  process.stdout.write(report);
  if (args.out) writeFileSync(args.out, report);
  writeFileSync(join(workDir, 'samples.json'), JSON.stringify(rows, null, 2));
  if (args.keep || args.profile) {
    log(`kept ${workDir}${args.profile ? ` (profiles in ${profileDir})` : ''}`);
    // Only the bulky parts go; logs, samples and profiles stay.
    for (const path of [blobFile, roots.berth, roots.distribution]) rmSync(path, { recursive: true, force: true });
  } else {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** On failure the storage folders go too (they hold gigabytes); logs stay for diagnosis. */
function removeBulk(workDir: string): void {
  for (const name of ['blob.bin', 'berth-root', 'distribution-root'])
    rmSync(join(workDir, name), { recursive: true, force: true });
}

async function listings(servers: Record<ServerName, RunningServer>, layout: Layout): Promise<void> {
  log('row 5: catalog and tags listings');
  const catalog = row(
    '5a',
    `/v2/_catalog, all pages of ${CATALOG_PAGE} over ${REPOSITORIES.toLocaleString('en-US')} repositories`,
    'ms',
    'lower',
    { ratio: 1 / 5 },
  );
  const tags = row('5b', `tags/list of a repository with ${TAGS.toLocaleString('en-US')} tags`, 'ms', 'lower', {
    ratio: 1 / 5,
  });
  const expected = REPOSITORIES + 2; // plus bench/small and bench/tags
  for (let round = 0; round < rounds; round++) {
    for (const server of order(round, servers)) {
      const listing = await work.listCatalog(server.url, CATALOG_PAGE);
      if (listing.repositories !== expected)
        throw new Error(`${server.name}: _catalog listed ${listing.repositories} repositories, expected ${expected}`);
      catalog.samples[server.name].push(listing.seconds * 1000);
      // Several tags/list per round after two to warm up (Berth's JIT, every server's caches);
      // the round's value is their median.
      const times: number[] = [];
      for (let i = 0; i < 12; i++) {
        const ms = (await work.listTags(server.url, layout.tagsRepository, layout.tags)) * 1000;
        if (i >= 2) times.push(ms);
      }
      tags.samples[server.name].push(median(times));
    }
  }
}

async function smallRequests(servers: Record<ServerName, RunningServer>, layout: Layout): Promise<void> {
  log(`row 4: small requests, ${CONNECTIONS} connections, ${LOAD_SECONDS} s each`);
  for (const kind of ['head-blob', 'get-manifest'] as const) {
    const label = kind === 'head-blob' ? 'HEAD of a blob' : 'GET of a manifest by tag';
    const id = kind === 'head-blob' ? '4a' : '4b';
    const rps = row(id, `${label}, ${CONNECTIONS} connections`, 'req/s', 'higher', { ratio: 3 });
    const p50 = row(`${id}`, `${label}: p50 latency`, 'ms', 'lower');
    const p99 = row(`${id}`, `${label}: p99 latency`, 'ms', 'lower', { ratio: 1 });
    for (let round = 0; round < rounds; round++) {
      for (const server of order(round, servers)) {
        const result = await work.smallRequests(
          server.url,
          kind,
          layout.smallRepository,
          layout.image,
          CONNECTIONS,
          LOAD_SECONDS,
        );
        rps.samples[server.name].push(result.rps);
        p50.samples[server.name].push(result.p50);
        p99.samples[server.name].push(result.p99);
      }
    }
  }
}

/**
 * Writes dirty pages out before a timed push. A push writes 256 MiB into the page cache; while the
 * kernel writes the previous push's bytes back, fresh page-cache writes cost several times more,
 * so without this the registry that pushes second in a round pays for the one that pushed first.
 */
function settleDisk(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

async function pushesAndPulls(servers: Record<ServerName, RunningServer>, blobFile: string): Promise<void> {
  const mono = row('1', 'monolithic push of 256 MiB (POST, PUT with the body)', 'MB/s', 'higher', { ratio: 2 });
  const chunked = row('2', 'chunked push of 256 MiB in 8 MiB PATCH chunks', 'MB/s', 'higher', { ratio: 2 });
  const pullRow = row('3a', 'pull of the 256 MiB blob', 'MB/s', 'higher', { ratio: 1 });
  const ranged = row('3b', 'ranged pull: 128 MiB from the middle of the blob', 'MB/s', 'higher', { ratio: 1 });
  let lastPushed: { repository: string; digest: string } | undefined;
  if (rowsWanted.has('1') || rowsWanted.has('3')) {
    log('row 1: monolithic pushes');
    for (let round = 0; round < rounds; round++) {
      const digest = await restamp(blobFile, `mono-${round}`);
      for (const server of order(round, servers)) {
        const repository = `push/mono${round}`;
        settleDisk();
        mono.samples[server.name].push(
          mbPerSecond(BLOB_SIZE, await work.pushMonolithic(server.url, repository, blobFile, BLOB_SIZE, digest)),
        );
        lastPushed = { repository, digest };
      }
    }
  }
  if (rowsWanted.has('2')) {
    log('row 2: chunked pushes');
    for (let round = 0; round < rounds; round++) {
      const digest = await restamp(blobFile, `chunked-${round}`);
      for (const server of order(round, servers)) {
        const repository = `push/chunked${round}`;
        settleDisk();
        chunked.samples[server.name].push(
          mbPerSecond(BLOB_SIZE, await work.pushChunked(server.url, repository, blobFile, BLOB_SIZE, digest)),
        );
        lastPushed = { repository, digest };
      }
    }
  }
  if (rowsWanted.has('3') && lastPushed) {
    log('row 3: pulls');
    const { repository, digest } = lastPushed;
    for (let round = 0; round < rounds; round++) {
      for (const server of order(round, servers)) {
        pullRow.samples[server.name].push(
          mbPerSecond(BLOB_SIZE, await work.pull(server.url, repository, digest, BLOB_SIZE)),
        );
        const length = RANGE.end - RANGE.start + 1;
        ranged.samples[server.name].push(
          mbPerSecond(length, await work.pull(server.url, repository, digest, length, RANGE)),
        );
      }
    }
  }
}

async function ciPushes(servers: Record<ServerName, RunningServer>): Promise<void> {
  log(`row 6: ${CI_IMAGES} concurrent image pushes`);
  const images = row(
    '6',
    `${CI_IMAGES} concurrent pushes of ${work.CI_LAYERS.length}-layer images (HEAD, POST, PATCH, PUT per blob; PUT manifest)`,
    'images/s',
    'higher',
    { ratio: 1 },
  );
  for (let round = 0; round < rounds; round++) {
    for (const server of order(round, servers)) {
      images.samples[server.name].push(
        CI_IMAGES / (await work.concurrentImagePushes(server.url, `ci/r${round}`, CI_IMAGES)),
      );
    }
  }
}

function renderReport(info: {
  limits: { sha256Stream: number; sha256Memory: number; readCached: number; readDirect: number | undefined };
  processes: Record<ServerName, number>;
  seconds: number;
  loadBefore: number[];
  loadAfter: number[];
  distributionVersion: string;
}): string {
  const lines: string[] = [];
  const cpu = cpus();
  lines.push(`## Berth vs CNCF Distribution: medians of ${rounds} rounds`);
  lines.push('');
  lines.push(
    `Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node ${process.version}, ${info.distributionVersion}.`,
  );
  lines.push(
    `Load average before/after: ${info.loadBefore.map((v) => v.toFixed(2)).join(' ')} / ${info.loadAfter.map((v) => v.toFixed(2)).join(' ')}. Run took ${Math.round(info.seconds)} s.`,
  );
  lines.push(
    `Server processes: Berth ${info.processes.berth} (berth.workers ${args['berth-workers'] ?? 'default'}), Distribution ${info.processes.distribution}.`,
  );
  lines.push(`Command: npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
  lines.push('');
  lines.push('| row | workload | unit | Berth | Distribution | Berth/Distribution | target | met |');
  lines.push('| --- | --- | --- | ---: | ---: | ---: | --- | --- |');
  const order = ['1', '2', '3a', '3b', '4a', '4b', '5a', '5b', '6', '7a', '7b', '7c'];
  const sorted = [...rows].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  for (const entry of sorted) {
    const berth = median(entry.samples.berth);
    const distribution = median(entry.samples.distribution);
    if (!Number.isFinite(berth) && !Number.isFinite(distribution)) continue;
    const ratio = berth / distribution;
    let target = '';
    let met = '';
    if (entry.target?.ratio !== undefined) {
      const bound = entry.target.ratio;
      target = entry.better === 'higher' ? `≥ ${formatNumber(bound)}` : `≤ ${formatNumber(bound)}`;
      met = (entry.better === 'higher' ? ratio >= bound : ratio <= bound) ? 'yes' : '**no**';
    } else if (entry.target?.absolute !== undefined) {
      target = `Berth < ${entry.target.absolute} ${entry.unit}`;
      met = berth < entry.target.absolute ? 'yes' : '**no**';
    }
    lines.push(
      `| ${entry.id} | ${entry.what} | ${entry.unit} | ${formatNumber(berth)} | ${formatNumber(distribution)} | ${formatNumber(ratio)} | ${target} | ${met} |`,
    );
  }
  lines.push('');
  lines.push('Physical limits on the same machine:');
  lines.push(
    `- SHA-256, Node crypto over a file stream (1 MiB chunks): ${formatNumber(info.limits.sha256Stream)} MB/s; over 64 MiB in memory (OpenSSL alone): ${formatNumber(info.limits.sha256Memory)} MB/s`,
  );
  lines.push(
    `- reading the 256 MiB blob file: ${formatNumber(info.limits.readCached)} MB/s through a Node stream (page cache)` +
      (info.limits.readDirect === undefined
        ? ''
        : `, ${formatNumber(info.limits.readDirect)} MB/s from the disk itself (dd, O_DIRECT)`),
  );
  lines.push('');
  return `${lines.join('\n')}\n`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * The performance benchmark: Berth (this checkout's dist/) against CNCF Distribution (Debian's
 * docker-registry) on the same machine in the same run. Each workload runs against both,
 * alternating which goes first, for several rounds; the table reports medians and the
 * Berth/Distribution ratio. See docs/performance.md.
 *
 *   npm run bench                  full run: 5 rounds, listings at 100,000 (docs/performance.md says how long)
 *   npm run bench -- --quick       2 rounds, shorter load tests, listings at 20,000
 *   npm run bench -- --rows 1,4    only some rows (9: the pull-through cache against Distribution's)
 *   npm run bench -- --profile     Berth runs under --cpu-prof (profiles land in the work folder)
 */
import { spawn, spawnSync } from 'node:child_process';
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
import { pullThrough } from './pull-through.js';

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
    scale: { type: 'string' },
  },
});

const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 2 : 5));
const rowsWanted = new Set((args.rows ?? '1,2,3,4,5,6,7,8,9').split(',').map((row) => row.trim()));
const BLOB_SIZE = 256 * MiB;
const RANGE = { start: 64 * MiB, end: 192 * MiB - 1 };
const LOAD_SECONDS = quick ? 2 : 4;
const CONNECTIONS = 32;
const REPOSITORIES = 10_000;
const TAGS = 10_000;
/** The listing rows at scale: repositories in the catalog and tags in one repository. */
const SCALE = Number(args.scale ?? (quick ? 20_000 : 100_000));
const CATALOG_PAGE = 1000;
const CI_IMAGES = 50;
const MEMORY_PUSHES = 8;

type Better = 'higher' | 'lower';

const ROW_ORDER = [
  '1',
  '1c',
  '2',
  '2c',
  '3a',
  '3b',
  '4a',
  '4b',
  '5a',
  '5b',
  '5c',
  '5d',
  '6',
  '7a',
  '7b',
  '7c',
  '7d',
  '8',
  '9a',
  '9b',
  '9c',
];

interface Row {
  id: string;
  what: string;
  unit: string;
  better: Better;
  /** Ratio Berth/Distribution the issue asks for, or an absolute bound on Berth. */
  target?: { ratio?: number; absolute?: number };
  samples: Record<ServerName, number[]>;
  /** The 1-minute load average when each sample was taken. */
  load: number[];
}

const rows: Row[] = [];
function row(id: string, what: string, unit: string, better: Better, target?: Row['target']): Row {
  const created: Row = { id, what, unit, better, target, samples: { berth: [], distribution: [] }, load: [] };
  rows.push(created);
  return created;
}

function record(entry: Row, server: ServerName, value: number): void {
  entry.samples[server].push(value);
  entry.load.push(loadavg()[0]!);
}

/** The machine's limits, measured between the servers' turns in the same rounds. */
const limitSamples = { sha256: [] as number[], readCached: [] as number[], load: [] as number[] };
async function measureLimits(blobFile: string): Promise<{ sha256: number; readCached: number }> {
  const sha256 = await sha256Stream(blobFile, BLOB_SIZE);
  const readCached = await readStream(blobFile, BLOB_SIZE);
  limitSamples.sha256.push(sha256);
  limitSamples.readCached.push(readCached);
  limitSamples.load.push(loadavg()[0]!);
  return { sha256, readCached };
}
/** Per round: a server's rate as a fraction of the limit measured in the same round. */
const fractions = {
  push: { berth: [] as number[], distribution: [] as number[] },
  pull: { berth: [] as number[], distribution: [] as number[] },
};

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
  // The listing rows at scale read one folder that both registries serve (they only read it):
  // 100,000 repositories are 5 GB of folders, too much to write twice.
  const scaleRoot = join(workDir, 'scale-root');
  let scaleLayout: Layout | undefined;
  if (rowsWanted.has('5')) {
    log(`writing ${SCALE} repositories and a repository with ${SCALE} tags into the shared scale folder`);
    const writing = Date.now();
    // The layer link alone per repository: what both registries list by, half the folders to write.
    scaleLayout = await writeLayout([scaleRoot], SCALE, SCALE, { revisions: false });
    log(`written in ${Math.round((Date.now() - writing) / 1000)} s`);
  }

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
  const peak = row('7b', `resident memory, peak during ${MEMORY_PUSHES} concurrent 256 MiB pushes`, 'MB', 'lower', {
    absolute: 120,
  });
  // Proportional set size: pages shared between processes (the node binary) counted once.
  const peakPss = row('7c', `proportional memory (PSS), peak during the same pushes`, 'MB', 'lower');
  const processes: Record<ServerName, number> = {
    berth: servers.berth.pids().length,
    distribution: servers.distribution.pids().length,
  };

  try {
    if (rowsWanted.has('7')) await memoryAndStartup(servers);
    if (rowsWanted.has('5')) {
      await buildIndex(servers.berth, 'the 10,000-repository folder');
      await listings(servers, layout, REPOSITORIES + 2);
      const scaleServers: Record<ServerName, RunningServer> = {
        berth: await startServer('berth', { workDir, root: scaleRoot, checkout, label: 'berth-scale' }),
        distribution: await startServer('distribution', {
          workDir,
          root: scaleRoot,
          checkout,
          label: 'distribution-scale',
        }),
      };
      try {
        buildSeconds = await buildIndex(scaleServers.berth, 'the scale folder');
        await scaleListings(scaleServers, scaleLayout!);
      } finally {
        await Promise.all(Object.values(scaleServers).map((server) => server.stop()));
      }
    }
    if (rowsWanted.has('4')) await smallRequests(servers, layout);
    if (rowsWanted.has('1') || rowsWanted.has('2') || rowsWanted.has('3')) await pushesAndPulls(servers, blobFile);
    if (rowsWanted.has('6')) await ciPushes(servers);
    if (rowsWanted.has('8')) await contendedPushes(servers, blobFile);
    if (rowsWanted.has('9')) {
      await pullThrough({
        workDir,
        checkout,
        rounds,
        log,
        rows: {
          cold: row(
            '9a',
            'pull-through cache: cold first pull of a 64 MiB image (manifest by tag, config, layer)',
            's',
            'lower',
          ),
          warm: row('9b', 'pull-through cache: warm pull of the same image (cache hit)', 's', 'lower'),
          concurrent: row(
            '9c',
            'pull-through cache: 20 concurrent cold pulls of one 64 MiB image, until the last ends',
            's',
            'lower',
          ),
        },
      });
    }
    if (rowsWanted.has('7')) {
      log(`row 7: ${MEMORY_PUSHES} concurrent pushes while sampling memory`);
      for (let round = 0; round < rounds; round++) {
        const digest = await restamp(blobFile, `memory-${round}`);
        for (const server of order(round, servers)) {
          settleDisk();
          const memory = await work.memoryDuringPushes(
            server,
            `mem${round}`,
            blobFile,
            BLOB_SIZE,
            digest,
            MEMORY_PUSHES,
          );
          record(peak, server.name, memory.rss / 1e6);
          record(peakPss, server.name, memory.pss / 1e6);
        }
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
  rmSync(scaleRoot, { recursive: true, force: true });
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
  for (const name of ['blob.bin', 'berth-root', 'distribution-root', 'scale-root'])
    rmSync(join(workDir, name), { recursive: true, force: true });
}

let buildSeconds: number | undefined;

/**
 * Berth's first listing ever of a folder builds its repository index from a walk (as after an
 * upgrade, or on a folder Distribution wrote): timed once, outside the rows. A listing 3 s later,
 * once the index folder is quiet, writes the snapshot a restarted process starts from.
 */
async function buildIndex(server: RunningServer, what: string): Promise<number> {
  const build = await work.listCatalog(server.url, CATALOG_PAGE);
  log(`Berth's first listing of ${what} (builds the index): ${build.seconds.toFixed(2)} s`);
  await new Promise((done) => setTimeout(done, 3_500));
  await work.listCatalog(server.url, CATALOG_PAGE);
  return build.seconds;
}

/**
 * Rows 5: catalog and tags/list, cold and warm. Cold is the first listing after the server was
 * restarted (every cache in the process is gone; the kernel's page cache is not dropped, it is
 * shared with everyone on the machine); warm is the same listing again right after.
 */
async function listings(servers: Record<ServerName, RunningServer>, layout: Layout, expected: number): Promise<void> {
  const [catalogId, tagsId] = ['5a', '5b'];
  const count = layout.catalogRepositories.toLocaleString('en-US');
  const tagCount = layout.tags.toLocaleString('en-US');
  log(`row ${catalogId}, ${tagsId}: catalog over ${count} repositories, tags/list of ${tagCount} tags, cold and warm`);
  const catalogCold = row(
    `${catalogId} cold`,
    `/v2/_catalog, all pages of ${CATALOG_PAGE} over ${count} repositories, first listing after a restart`,
    'ms',
    'lower',
    { ratio: 1 / 5 },
  );
  const firstPage = row(
    `${catalogId} first`,
    `/v2/_catalog?n=${CATALOG_PAGE}, first page after a restart (${count} repositories)`,
    'ms',
    'lower',
  );
  const slowestPage = row(
    `${catalogId} page`,
    `/v2/_catalog, slowest page of the cold listing (${count} repositories)`,
    'ms',
    'lower',
  );
  const catalogWarm = row(
    `${catalogId} warm`,
    `/v2/_catalog, all pages over ${count} repositories, listed again`,
    'ms',
    'lower',
    { ratio: 1 / 5 },
  );
  const tags = tagRows(tagsId, layout);
  for (let round = 0; round < rounds; round++) {
    for (const server of order(round, servers)) {
      await server.restart();
      const cold = await work.listCatalog(server.url, CATALOG_PAGE);
      if (cold.repositories !== expected)
        throw new Error(`${server.name}: _catalog listed ${cold.repositories} repositories, expected ${expected}`);
      record(catalogCold, server.name, cold.seconds * 1000);
      record(firstPage, server.name, cold.firstPageSeconds * 1000);
      record(slowestPage, server.name, cold.slowestPageSeconds * 1000);
      record(catalogWarm, server.name, (await work.listCatalog(server.url, CATALOG_PAGE)).seconds * 1000);
      await tags.measure(server);
    }
  }
}

/** Rows 5b and 5d: tags/list right after a restart (cold: the caller restarts), and warm. */
function tagRows(id: string, layout: Layout): { measure(server: RunningServer): Promise<void> } {
  const count = layout.tags.toLocaleString('en-US');
  const cold = row(`${id} cold`, `tags/list of ${count} tags, first after a restart`, 'ms', 'lower', { ratio: 1 / 5 });
  const warm = row(`${id} warm`, `tags/list of ${count} tags, median of 5 more`, 'ms', 'lower', { ratio: 1 / 5 });
  return {
    async measure(server) {
      record(cold, server.name, (await work.listTags(server.url, layout.tagsRepository, layout.tags)) * 1000);
      const times: number[] = [];
      for (let i = 0; i < 5; i++)
        times.push((await work.listTags(server.url, layout.tagsRepository, layout.tags)) * 1000);
      record(warm, server.name, median(times));
    },
  };
}

/**
 * Rows 5c and 5d, the listings at scale. Distribution walks the repositories up to the start of
 * each page for every page (about 3 s a page in the middle of 100,000 on a loaded two-core
 * machine, some 5 minutes for a whole listing), so a whole listing per round would take most of
 * the run: these rows time three pages after a restart, the first, the one after the middle
 * name and the last, then the middle one again (warm), and the tags of the scale repository.
 */
async function scaleListings(servers: Record<ServerName, RunningServer>, layout: Layout): Promise<void> {
  const repositories = layout.catalogRepositories;
  const count = repositories.toLocaleString('en-US');
  const name = (index: number) => `catalog/r${String(index).padStart(6, '0')}`;
  const half = Math.floor(repositories / 2);
  if (repositories < 2 * CATALOG_PAGE) throw new Error(`--scale must be at least ${2 * CATALOG_PAGE}`);
  const pages = [
    { id: 'first', what: 'first page', last: undefined, first: layout.smallRepository },
    {
      id: 'middle',
      what: `page after ${name(half)}`,
      last: name(half),
      first: name(half + 1),
    },
    {
      id: 'last',
      what: 'last page',
      last: name(repositories - CATALOG_PAGE - 1),
      first: name(repositories - CATALOG_PAGE),
    },
  ];
  log(
    `rows 5c, 5d: catalog pages over ${count} repositories, tags/list of ${layout.tags.toLocaleString('en-US')} tags`,
  );
  const cold = pages.map((page) =>
    row(
      `5c ${page.id}`,
      `/v2/_catalog?n=${CATALOG_PAGE}, ${page.what} of ${count}, right after a restart`,
      'ms',
      'lower',
      {
        ratio: 1 / 5,
      },
    ),
  );
  const middle = pages[1]!;
  const warm = row(`5c warm`, `/v2/_catalog?n=${CATALOG_PAGE}, ${middle.what} of ${count}, again`, 'ms', 'lower', {
    ratio: 1 / 5,
  });
  const tags = tagRows('5d', layout);
  for (let round = 0; round < rounds; round++) {
    for (const server of order(round, servers)) {
      await server.restart();
      for (const [index, page] of pages.entries()) {
        const seconds = await work.catalogPage(server.url, CATALOG_PAGE, page.last, {
          count: CATALOG_PAGE,
          first: page.first,
        });
        record(cold[index]!, server.name, seconds * 1000);
      }
      const again = await work.catalogPage(server.url, CATALOG_PAGE, middle.last, {
        count: CATALOG_PAGE,
        first: middle.first,
      });
      record(warm, server.name, again * 1000);
      await tags.measure(server);
    }
  }
}

/** How long after its start a server's memory is read again, once V8 has shrunk an idle heap. */
const SETTLE_MS = 20_000;

/**
 * Rows 7a and 7d: each server restarted in turn (alternating which goes first): seconds from the
 * spawn to the first 200, resident memory 1 s after that, and again once it has been idle
 * SETTLE_MS (V8 gives back the young generation and compacts an idle heap some 10-15 s after
 * start; Distribution's memory does not move).
 */
async function memoryAndStartup(servers: Record<ServerName, RunningServer>): Promise<void> {
  const idle = row('7a', 'resident memory, idle 1 s after start (sum over processes)', 'MB', 'lower', { absolute: 60 });
  const settled = row('7a settled', `resident memory, idle ${SETTLE_MS / 1000} s after start`, 'MB', 'lower', {
    absolute: 60,
  });
  const startup = row('7d', 'start-up: spawn to the first 200 of GET /v2/', 's', 'lower', { absolute: 0.5 });
  log(`rows 7a, 7d: ${rounds} restarts of each server; memory 1 s and ${SETTLE_MS / 1000} s after each`);
  const sleep = (ms: number) => new Promise((done) => setTimeout(done, Math.max(0, ms)));
  for (let round = 0; round < rounds; round++) {
    const ready: Array<{ server: RunningServer; at: number }> = [];
    for (const server of order(round, servers)) {
      record(startup, server.name, await server.restart());
      const at = performance.now();
      await sleep(1000);
      record(idle, server.name, memoryOf(server.pids()).rss / 1e6);
      ready.push({ server, at });
    }
    for (const { server, at } of ready) {
      await sleep(at + SETTLE_MS - performance.now());
      record(settled, server.name, memoryOf(server.pids()).rss / 1e6);
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
        record(rps, server.name, result.rps);
        record(p50, server.name, result.p50);
        record(p99, server.name, result.p99);
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
      const limit = await measureLimits(blobFile);
      for (const server of order(round, servers)) {
        const repository = `push/mono${round}`;
        settleDisk();
        const rate = mbPerSecond(
          BLOB_SIZE,
          await work.pushMonolithic(server.url, repository, blobFile, BLOB_SIZE, digest),
        );
        record(mono, server.name, rate);
        fractions.push[server.name].push(rate / limit.sha256);
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
        record(
          chunked,
          server.name,
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
      const limit = await measureLimits(blobFile);
      for (const server of order(round, servers)) {
        const rate = mbPerSecond(BLOB_SIZE, await work.pull(server.url, repository, digest, BLOB_SIZE));
        record(pullRow, server.name, rate);
        fractions.pull[server.name].push(rate / limit.readCached);
        const length = RANGE.end - RANGE.start + 1;
        record(
          ranged,
          server.name,
          mbPerSecond(length, await work.pull(server.url, repository, digest, length, RANGE)),
        );
      }
    }
  }
}

/**
 * Rows 1c, 2c: the pushes of rows 1 and 2 while a CPU-bound neighbour (a busy loop in its own
 * process, pinned to core 0 with taskset when there is one) competes with the servers and the
 * client for the two cores, as other work on a shared machine does.
 */
async function contendedPushes(servers: Record<ServerName, RunningServer>, blobFile: string): Promise<void> {
  const mono = row('1c', 'monolithic push of 256 MiB beside a CPU-bound neighbour', 'MB/s', 'higher', { ratio: 1 });
  const chunked = row('2c', 'chunked push of 256 MiB (8 MiB PATCH) beside a CPU-bound neighbour', 'MB/s', 'higher', {
    ratio: 1,
  });
  const busy = ['-e', 'for (;;) {}'];
  const pinned = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  const neighbour = pinned
    ? spawn('taskset', ['-c', '0', process.execPath, ...busy], { stdio: 'ignore' })
    : spawn(process.execPath, busy, { stdio: 'ignore' });
  log(`rows 1c, 2c: pushes beside a busy loop${pinned ? ' pinned to core 0' : ''}`);
  try {
    for (let round = 0; round < rounds; round++) {
      const digest = await restamp(blobFile, `busy-mono-${round}`);
      for (const server of order(round, servers)) {
        settleDisk();
        const seconds = await work.pushMonolithic(server.url, `busy/mono${round}`, blobFile, BLOB_SIZE, digest);
        record(mono, server.name, mbPerSecond(BLOB_SIZE, seconds));
      }
      const chunkedDigest = await restamp(blobFile, `busy-chunk-${round}`);
      for (const server of order(round + 1, servers)) {
        settleDisk();
        const seconds = await work.pushChunked(server.url, `busy/chunked${round}`, blobFile, BLOB_SIZE, chunkedDigest);
        record(chunked, server.name, mbPerSecond(BLOB_SIZE, seconds));
      }
    }
  } finally {
    neighbour.kill('SIGKILL');
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
      record(
        images,
        server.name,
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
  lines.push(`## Berth vs CNCF Distribution: ${rounds} alternating rounds`);
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
  lines.push(
    'Each cell is min / median / max over the rounds; the ratio is of the medians, with the range of the per-round ratios; load is the 1-minute load average while the row ran (min–max).',
  );
  lines.push('');
  lines.push('| row | workload | unit | Berth | Distribution | Berth/Distribution | target | met | load |');
  lines.push('| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |');
  const rowOrder = (id: string) => {
    const index = ROW_ORDER.findIndex((prefix) => id === prefix || id.startsWith(`${prefix} `));
    return index === -1 ? ROW_ORDER.length : index;
  };
  const sorted = [...rows].sort((a, b) => rowOrder(a.id) - rowOrder(b.id));
  const spread = (values: number[]) =>
    values.length === 0
      ? 'n/a'
      : `${formatNumber(Math.min(...values))} / **${formatNumber(median(values))}** / ${formatNumber(Math.max(...values))}`;
  for (const entry of sorted) {
    const berth = median(entry.samples.berth);
    const distribution = median(entry.samples.distribution);
    if (!Number.isFinite(berth) && !Number.isFinite(distribution)) continue;
    const ratio = berth / distribution;
    const paired = entry.samples.berth
      .map((value, index) => value / (entry.samples.distribution[index] ?? Number.NaN))
      .filter(Number.isFinite);
    const ratioText =
      paired.length > 1
        ? `${formatNumber(ratio)} (${formatNumber(Math.min(...paired))}–${formatNumber(Math.max(...paired))})`
        : formatNumber(ratio);
    let target = '';
    let met = '';
    if (entry.target?.ratio !== undefined) {
      const bound = entry.target.ratio;
      target = entry.better === 'higher' ? `≥ ${formatNumber(bound)}` : `≤ ${formatNumber(bound)}`;
      met = (entry.better === 'higher' ? ratio >= bound : ratio <= bound) ? 'yes' : '**no**';
    } else if (entry.target?.absolute !== undefined) {
      target = `Berth ≤ ${entry.target.absolute} ${entry.unit}`;
      met = berth <= entry.target.absolute ? 'yes' : '**no**';
    }
    const load =
      entry.load.length > 0 ? `${Math.min(...entry.load).toFixed(1)}–${Math.max(...entry.load).toFixed(1)}` : '';
    lines.push(
      `| ${entry.id} | ${entry.what} | ${entry.unit} | ${spread(entry.samples.berth)} | ${spread(entry.samples.distribution)} | ${ratioText} | ${target} | ${met} | ${load} |`,
    );
  }
  lines.push('');
  if (buildSeconds !== undefined)
    lines.push(
      `Berth's first listing of the scale folder, which builds its repository index from a walk (once per folder): ${formatNumber(buildSeconds * 1000)} ms.`,
    );
  if (limitSamples.sha256.length > 0) {
    const load = `${Math.min(...limitSamples.load).toFixed(1)}–${Math.max(...limitSamples.load).toFixed(1)}`;
    lines.push('');
    lines.push(`Limits measured in the same alternating rounds as rows 1 and 3 (min / median / max, load ${load}):`);
    lines.push(`- SHA-256, Node crypto over a file stream (1 MiB chunks): ${spread(limitSamples.sha256)} MB/s`);
    lines.push(
      `- reading the 256 MiB blob file through a Node stream (page cache): ${spread(limitSamples.readCached)} MB/s`,
    );
    const percent = (values: number[]) => spread(values.map((value) => value * 100));
    if (fractions.push.berth.length > 0)
      lines.push(
        `- row 1, push as % of the SHA-256 rate of its round: Berth ${percent(fractions.push.berth)}, Distribution ${percent(fractions.push.distribution)}`,
      );
    if (fractions.pull.berth.length > 0)
      lines.push(
        `- row 3a, pull as % of the page-cache read of its round: Berth ${percent(fractions.pull.berth)}, Distribution ${percent(fractions.pull.distribution)}`,
      );
  }
  lines.push('');
  lines.push('Physical limits measured once before the rounds:');
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

/**
 * The web UI's repository search at scale: one request to Berth's `/_berth/api/repositories?q=`
 * against what a UI over Distribution has to do for the same answer (page through
 * `/v2/_catalog?n=1000` to the end and filter in the browser). Both registries serve identical
 * folders of N repositories (default 20,000: writing 100,000 into two folders takes over 20
 * minutes on this machine's disk) on the same machine in the same run; rounds
 * alternate between them. Cold: the first request after a server starts (Berth walks the
 * repositories once; Distribution walks them for every catalog page). Warm: the same request
 * again, five times, median.
 *
 *   npm run build && node --import tsx bench/ui-search.ts [--repositories 20000] [--rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from './client.js';
import { writeLayout } from './content.js';
import { startServer, type RunningServer, type ServerName } from './servers.js';
import { formatNumber, median } from './stats.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const REPOSITORIES = option('repositories', 20_000);
const ROUNDS = option('rounds', 5);
/** Matches the layout's names catalog/r09990 … r09999 (and r0999x of larger counts). */
const QUERY = 'r0999';

async function berthSearch(url: string): Promise<number> {
  const reply = await request(`${url}/_berth/api/repositories?q=${QUERY}&n=50`, { method: 'GET', keepBody: true });
  if (reply.status !== 200) throw new Error(`search: ${reply.status}`);
  return (JSON.parse(reply.body!.toString('utf8')) as { total: number }).total;
}

async function distributionSearch(url: string): Promise<number> {
  let next: string | undefined = '/v2/_catalog?n=1000';
  let found = 0;
  while (next) {
    const reply = await request(`${url}${next}`, { method: 'GET', keepBody: true });
    if (reply.status !== 200) throw new Error(`catalog: ${reply.status}`);
    found += (JSON.parse(reply.body!.toString('utf8')) as { repositories: string[] }).repositories.filter((name) =>
      name.includes(QUERY),
    ).length;
    const link = reply.headers.link;
    next = typeof link === 'string' ? /<([^>]+)>/.exec(link)?.[1] : undefined;
  }
  return found;
}

const SEARCH: Record<ServerName, (url: string) => Promise<number>> = {
  berth: berthSearch,
  distribution: distributionSearch,
};

async function timed(work: () => Promise<number>): Promise<{ ms: number; found: number }> {
  const started = performance.now();
  const found = await work();
  return { ms: performance.now() - started, found };
}

async function main(): Promise<void> {
  const checkout = resolve(import.meta.dirname, '..');
  const work = mkdtempSync(join(tmpdir(), 'berth-ui-bench-'));
  const roots = { berth: join(work, 'berth-root'), distribution: join(work, 'distribution-root') };
  const before = loadavg();
  const started = Date.now();
  console.log(`writing ${REPOSITORIES} repositories into both roots…`);
  await writeLayout([roots.berth, roots.distribution], REPOSITORIES, 1);
  const cold: Record<ServerName, number[]> = { berth: [], distribution: [] };
  const warm: Record<ServerName, number[]> = { berth: [], distribution: [] };
  const found: Record<ServerName, number> = { berth: 0, distribution: 0 };
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const name of (round % 2 === 0 ? ['berth', 'distribution'] : ['distribution', 'berth']) as ServerName[]) {
        const server: RunningServer = await startServer(name, { workDir: work, root: roots[name], checkout });
        try {
          const first = await timed(() => SEARCH[name](server.url));
          cold[name].push(first.ms);
          found[name] = first.found;
          const again: number[] = [];
          for (let repeat = 0; repeat < 5; repeat += 1) again.push((await timed(() => SEARCH[name](server.url))).ms);
          warm[name].push(median(again));
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const row = (label: string, values: Record<ServerName, number[]>) => {
    const spread = (list: number[]) =>
      `${formatNumber(Math.min(...list))} / ${formatNumber(median(list))} / ${formatNumber(Math.max(...list))}`;
    return `| ${label} | ms | ${spread(values.berth)} | ${spread(values.distribution)} | ${(median(values.berth) / median(values.distribution)).toPrecision(2)} |`;
  };
  console.log(
    `\nRepositories: ${REPOSITORIES}; query "${QUERY}" found ${found.berth} (Berth) and ${found.distribution} (Distribution, filtering the catalog).`,
  );
  console.log(
    `Load average before/after: ${before.map((value) => value.toFixed(2)).join(' ')} / ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}. Run took ${Math.round((Date.now() - started) / 1000)} s.\n`,
  );
  console.log(
    '| search | unit | Berth min / median / max | Distribution min / median / max | Berth/Distribution (medians) |',
  );
  console.log('| --- | --- | ---: | ---: | ---: |');
  console.log(row('cold: first request after start', cold));
  console.log(row('warm: the same request again (median of 5)', warm));
}

await main();

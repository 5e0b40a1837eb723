/**
 * What Prometheus metrics cost (docs/observability.md): the HEAD manifest request rate of one
 * Berth process with `http.debug.prometheus` off and on, in alternating rounds (off, on, then
 * on, off, …) over the same storage, with a scrape every 5 s while on (as a Prometheus would
 * scrape, a little more often than the usual 15 s). Two figures per round: the request rate, and
 * the CPU time the server's processes spent per request (from /proc, so a machine busy with other
 * work moves it much less than the rate). Each round's cost is on/off − 1 of the CPU per request
 * and 1 − on/off of the rate; the table gives min / median / max over the rounds.
 *
 *   node --import tsx bench/metrics-cost.ts
 *   options: --rounds 5 --seconds 10 --connections 16 --workers 1 --out results.json
 *
 * Runs Berth from its sources (src/cli/main.ts through tsx); needs `hey` (Debian package hey).
 * Everything runs on loopback and stops by itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from './client.js';
import { OCI_MANIFEST } from './content.js';
import { haveLoadGenerator, loadTest, type LoadResult } from './loadgen.js';
import { configYaml, descendants, freePort, watchExit } from './servers.js';
import { formatNumber, median } from './stats.js';
import { concurrentImagePushes } from './workloads.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const WORKERS = Number(args.workers);
const SCRAPE_EVERY_MS = 5_000;

type Arm = 'off' | 'on';
interface Measured extends LoadResult {
  /** CPU seconds (user + system) of the server's processes per request, in microseconds. */
  cpuMicros: number;
}

/** User + system CPU seconds of these processes so far (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

async function serve(workDir: string, root: string, arm: Arm) {
  const [port, debugPort] = [await freePort(), await freePort()];
  const debug =
    arm === 'on' ? `  debug:\n    addr: 127.0.0.1:${debugPort}\n    prometheus:\n      enabled: true\n` : '';
  const config = join(workDir, `berth-${arm}.yml`);
  writeFileSync(config, `${configYaml(root, port, '')}${debug}berth:\n  workers: ${WORKERS}\n`);
  const log = openSync(join(workDir, `berth-${arm}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'src/cli/main.ts'), 'serve', config], {
    cwd: here,
    stdio: ['ignore', log, log],
  });
  const running = watchExit(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (running.exited()) throw new Error(`berth (${arm}) exited during start; see ${workDir}`);
    const ready = await request(`${url}/v2/`, { method: 'GET' }).then(
      (reply) => reply.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`berth (${arm}) did not start within 60 s`);
    await new Promise((done) => setTimeout(done, 100));
  }
  // The worker processes take a moment longer than the first one.
  await new Promise((done) => setTimeout(done, 1000));
  const pids = () => (child.pid === undefined ? [] : [child.pid, ...descendants(child.pid)]);
  return { url, metrics: arm === 'on' ? `http://127.0.0.1:${debugPort}/metrics` : undefined, stop: running.stop, pids };
}

async function measure(workDir: string, root: string, arm: Arm): Promise<Measured> {
  const server = await serve(workDir, root, arm);
  const pids = server.pids();
  const cpuBefore = cpuSeconds(pids);
  let scrapes = 0;
  const scraper =
    server.metrics &&
    setInterval(() => {
      void request(server.metrics!, { method: 'GET' }).then((reply) => {
        if (reply.status === 200) scrapes++;
      });
    }, SCRAPE_EVERY_MS);
  try {
    const result = await loadTest({
      url: `${server.url}/v2/bench/app0/manifests/build-0`,
      method: 'HEAD',
      headers: [`Accept: ${OCI_MANIFEST}`],
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    if (result.failures > 0) throw new Error(`${arm}: ${result.failures} requests failed`);
    if (server.metrics && scrapes === 0 && SECONDS * 1000 > SCRAPE_EVERY_MS) throw new Error('no scrape answered');
    const requests = result.rps * SECONDS;
    return { ...result, cpuMicros: ((cpuSeconds(pids) - cpuBefore) / requests) * 1e6 };
  } finally {
    if (scraper) clearInterval(scraper);
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (!haveLoadGenerator()) throw new Error('hey is not installed (apt-get install hey)');
  const workDir = mkdtempSync(join(tmpdir(), 'berth-metrics-cost-'));
  const root = join(workDir, 'data');
  try {
    const seed = await serve(workDir, root, 'off');
    await concurrentImagePushes(seed.url, 'bench', 1);
    await seed.stop();
    const rounds: Array<{ off: Measured; on: Measured; cost: number; cpuCost: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which arm goes first, so a drift of the machine falls on both.
      const order: Arm[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      const results = {} as Record<Arm, Measured>;
      for (const arm of order) results[arm] = await measure(workDir, root, arm);
      const cost = 1 - results.on.rps / results.off.rps;
      const cpuCost = results.on.cpuMicros / results.off.cpuMicros - 1;
      rounds.push({ off: results.off, on: results.on, cost, cpuCost });
      console.error(
        `round ${round + 1}: off ${formatNumber(results.off.rps)} req/s ${results.off.cpuMicros.toFixed(0)} µs CPU/req, on ${formatNumber(results.on.rps)} req/s ${results.on.cpuMicros.toFixed(0)} µs CPU/req`,
      );
    }
    const costs = rounds.map((round) => round.cost * 100);
    const figure = (values: number[], digits = 1) =>
      `${Math.min(...values).toFixed(digits)} / ${median(values).toFixed(digits)} / ${Math.max(...values).toFixed(digits)}`;
    const rps = (arm: Arm) => rounds.map((round) => round[arm].rps);
    const p99 = (arm: Arm) => rounds.map((round) => round[arm].p99);
    const cpu = (arm: Arm) => rounds.map((round) => round[arm].cpuMicros);
    console.log(`HEAD manifest, ${CONNECTIONS} connections, ${SECONDS} s × ${ROUNDS} rounds, ${WORKERS} process(es)`);
    const cpuCosts = rounds.map((round) => round.cpuCost * 100);
    console.log('| | req/s | CPU µs per request | p99 ms |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| metrics off | ${figure(rps('off'), 0)} | ${figure(cpu('off'), 0)} | ${figure(p99('off'), 2)} |`);
    console.log(
      `| metrics on, scraped every 5 s | ${figure(rps('on'), 0)} | ${figure(cpu('on'), 0)} | ${figure(p99('on'), 2)} |`,
    );
    console.log(`| cost per round, % (rate: 1 − on/off; CPU: on/off − 1) | ${figure(costs)} | ${figure(cpuCosts)} | |`);
    console.log('(min / median / max over the rounds)');
    if (args.out) writeFileSync(args.out, `${JSON.stringify({ rounds }, null, 2)}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();

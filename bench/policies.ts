/**
 * What the repository policies cost (docs/policies.md, docs/performance.md):
 *
 * 1. Pulls: `GET /v2/<name>/manifests/latest` (the request a pull records its time on) with hey,
 *    against Berth recording pull times (the default), Berth with `berth.pulls.record: false`,
 *    and Distribution (Debian's docker-registry), over identical folders, in alternating rounds.
 * 2. Storage accounting at scale: a folder of N repositories (each a manifest sharing one
 *    layer), `berth du --json` (one full read of storage), and the server's
 *    `GET /_berth/admin/usage` once its index is built (first answer, and after a push, which
 *    is counted incrementally). Distribution has no such figures to compare with.
 *
 *   npm run build && node --import tsx bench/policies.ts [--rounds 5] [--seconds 5] [--repositories 100000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from './client.js';
import { writeLayout } from './content.js';
import { haveLoadGenerator, loadTest } from './loadgen.js';
import { startServer, type RunningServer } from './servers.js';
import { formatNumber, median, secondsSince } from './stats.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const ROUNDS = option('rounds', 5);
const SECONDS = option('seconds', 5);
const REPOSITORIES = option('repositories', 100_000);
const CHECKOUT = join(import.meta.dirname, '..');

type Variant = 'berth (recording pulls)' | 'berth (pulls.record: false)' | 'distribution';

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${formatNumber(sorted[0]!)} / ${formatNumber(median(sorted))} / ${formatNumber(sorted.at(-1)!)}`;
}

async function pulls(): Promise<void> {
  if (!haveLoadGenerator()) throw new Error('hey is missing (Debian package hey)');
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-pulls-'));
  const roots = [0, 1, 2].map((index) => join(work, `root-${index}`));
  const layout = await writeLayout(roots, 0, 0);
  const variants: Variant[] = ['berth (recording pulls)', 'berth (pulls.record: false)', 'distribution'];
  const rps = new Map<Variant, number[]>(variants.map((variant) => [variant, []]));
  const p99 = new Map<Variant, number[]>(variants.map((variant) => [variant, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order, so neither gets the machine's quieter moments every time.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const index = variants.indexOf(variant);
        const server: RunningServer = await startServer(variant === 'distribution' ? 'distribution' : 'berth', {
          workDir: work,
          root: roots[index]!,
          checkout: CHECKOUT,
          berthWorkers: 1,
          // Continues the berth: section that berthWorkers opens.
          extraConfig: variant === 'berth (pulls.record: false)' ? '  pulls:\n    record: false\n' : undefined,
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
          rps.get(variant)!.push(result.rps);
          p99.get(variant)!.push(result.p99);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\nGET manifest by tag, hey -c 32 for ${SECONDS} s, ${ROUNDS} alternating rounds (min / median / max)`);
  console.log('| server | requests/s | p99 (ms) |\n| --- | ---: | ---: |');
  for (const variant of variants)
    console.log(`| ${variant} | ${summary(rps.get(variant)!)} | ${summary(p99.get(variant)!)} |`);
  const base = median(rps.get('berth (pulls.record: false)')!);
  console.log(
    `recording / not recording (medians): ${(median(rps.get('berth (recording pulls)')!) / base).toFixed(3)}; Berth recording / Distribution: ${(median(rps.get('berth (recording pulls)')!) / median(rps.get('distribution')!)).toFixed(3)}`,
  );
}

async function accounting(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-usage-'));
  const root = join(work, 'root');
  try {
    let started = process.hrtime.bigint();
    const layout = await writeLayout([root], REPOSITORIES, 0);
    console.log(`\nstorage accounting: ${REPOSITORIES} repositories written in ${secondsSince(started).toFixed(1)} s`);
    const config = join(work, 'du.yml');
    writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n`);
    started = process.hrtime.bigint();
    const du = spawnSync(process.execPath, [join(CHECKOUT, 'dist/cli/main.js'), 'du', config, '--json'], {
      maxBuffer: 1 << 30,
      encoding: 'utf8',
    });
    const duSeconds = secondsSince(started);
    if (du.status !== 0) throw new Error(`berth du: ${du.stderr}`);
    const report = JSON.parse(du.stdout) as { total: { repositories: number; bytes: number } };
    console.log(
      `berth du --json (one full read of storage): ${duSeconds.toFixed(1)} s for ${report.total.repositories} repositories`,
    );

    started = process.hrtime.bigint();
    const server = await startServer('berth', { workDir: work, root, checkout: CHECKOUT, berthWorkers: 1 });
    try {
      const usage = async () => {
        const at = process.hrtime.bigint();
        const reply = await request(`${server.url}/_berth/admin/usage?repositories=bench/**`, { method: 'GET' });
        if (reply.status !== 200) throw new Error(`usage: ${reply.status}`);
        return secondsSince(at);
      };
      const first = await usage();
      console.log(
        `server: started and first /_berth/admin/usage answered ${secondsSince(started).toFixed(1)} s after start (${first.toFixed(1)} s for the request, waiting on the index being built)`,
      );
      const warm: number[] = [];
      for (let index = 0; index < 5; index++) warm.push((await usage()) * 1000);
      // A push changes one repository: the next answer reads that one again, not the registry.
      const manifest = layout.image.manifest;
      const put = await request(`${server.url}/v2/${layout.smallRepository}/manifests/again`, {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
      const afterPush = (await usage()) * 1000;
      const all = process.hrtime.bigint();
      const whole = await request(`${server.url}/_berth/admin/usage`, { method: 'GET' });
      console.log(
        `warm answers (bench/**): ${summary(warm)} ms (min / median / max of 5); after a push: ${formatNumber(afterPush)} ms; the whole report (${REPOSITORIES} repositories, ${(whole.bytes / 1e6).toFixed(1)} MB of JSON): ${formatNumber(secondsSince(all) * 1000)} ms`,
      );
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await pulls();
await accounting();

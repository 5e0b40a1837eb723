/**
 * Memory over a long soak: one Berth process (`berth serve`, the built CLI, one worker, metrics
 * on its debug listener) under a mixed load for a set duration, its resident memory sampled
 * every few seconds. The load keeps storage at a steady size, so a server that does not leak
 * should hold a flat RSS once warm:
 *
 * - pushes: a base layer (one of 16, pushed again each time) and a new random layer (4 to
 *   64 KiB) and config, each blob as a single POST or as a chunked upload (POST, PATCHes, PUT),
 *   then the manifest under one of a bounded set of tags
 *   in one of a bounded set of repositories (a push moves a tag, leaving the old manifest
 *   untagged);
 * - pulls of an image pushed before (manifest, then every blob), blob HEADs;
 * - `/v2/_catalog` (two pages) and `tags/list`;
 * - manifest deletes by digest, and referrers queries;
 * - a garbage collection with `deleteuntagged` through the admin endpoint every `--gc-every`
 *   seconds (grace period 10 s), which frees what the moved tags and deletes left.
 *
 * Reported: the mean RSS of the first and of the last minute, the least-squares slope of RSS
 * (and of the V8 heap in use, read from the metrics) after the first minute, requests by
 * outcome, and the samples as CSV next to the server's log.
 *
 * The operations are paced (`--rate`, per second over all clients) so that collection keeps up and
 * storage stays at a steady size: an unpaced load on two cores writes blobs faster than a
 * collection deletes them, and memory then grows with storage, which says nothing about leaks.
 *
 *   npm run build && node --import tsx bench/soak.ts [--minutes 10] [--clients 4] [--rate 60] [--sample 5] [--gc-every 30]
 *     [--heap-snapshots]   also writes heap snapshots of the server after the first and the last minute
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, resolveLocation, type Reply } from './client.js';
import { freePort, memoryOf, startServer, type RunningServer } from './servers.js';
import { MiB } from './stats.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const MINUTES = option('minutes', 10);
const CLIENTS = option('clients', 4);
/** Operations per second over all clients (a push, a pull, a listing… each a few requests). */
const RATE = option('rate', 60);
const SAMPLE_SECONDS = option('sample', 5);
const GC_EVERY_SECONDS = option('gc-every', 30);
const HEAP_SNAPSHOTS = process.argv.includes('--heap-snapshots');
const CHECKOUT = join(import.meta.dirname, '..');
const REPOSITORIES = 40;
const TAGS = 12;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Pushed {
  name: string;
  tag: string;
  digest: string;
  blobs: string[];
}

interface Sample {
  seconds: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

class Load {
  /** Images pushed and not deleted (some untagged since, and maybe swept: pulls of those answer 404). */
  readonly images: Pushed[] = [];
  readonly outcomes = new Map<string, number>();
  /** Each collection: when it started (seconds into the soak), how long it took, what it freed. */
  readonly collections: Array<{ at: number; seconds: number; blobsDeleted: number; manifestsDeleted: number }> = [];
  private sequence = 0;
  private readonly bases = Array.from({ length: 16 }, () => randomBytes(32 * 1024));

  constructor(private readonly url: string) {}

  private count(what: string, reply: Reply): Reply {
    const key = `${what} ${reply.status}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    return reply;
  }

  private async pushBlob(name: string, content: Buffer): Promise<void> {
    const digest = digestOf(content);
    if (Math.random() < 0.5) {
      this.count(
        'blob POST ?digest',
        await request(`${this.url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: content,
        }),
      );
      return;
    }
    const start = this.count('upload POST', await request(`${this.url}/v2/${name}/blobs/uploads/`, { method: 'POST' }));
    if (start.status !== 202) return;
    let location = resolveLocation(this.url, start);
    const chunk = 16 * 1024;
    for (let offset = 0; offset < content.length; offset += chunk) {
      const piece = content.subarray(offset, offset + chunk);
      const patch = this.count(
        'upload PATCH',
        await request(location.href, {
          method: 'PATCH',
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${offset}-${offset + piece.length - 1}`,
          },
          body: piece,
        }),
      );
      if (patch.status !== 202) return;
      location = resolveLocation(this.url, patch);
    }
    location.searchParams.set('digest', digest);
    this.count('upload PUT', await request(location.href, { method: 'PUT' }));
  }

  private async push(): Promise<void> {
    const n = this.sequence++;
    const name = `soak/r${n % REPOSITORIES}`;
    const tag = `t${Math.floor(n / REPOSITORIES) % TAGS}`;
    const layers = [this.bases[n % this.bases.length]!, randomBytes(4096 + Math.floor(Math.random() * 60 * 1024))];
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n }),
    );
    for (const blob of [...layers, config]) await this.pushBlob(name, blob);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: digestOf(config),
          size: config.length,
        },
        layers: layers.map((layer) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digestOf(layer),
          size: layer.length,
        })),
      }),
    );
    const put = this.count(
      'manifest PUT',
      await request(`${this.url}/v2/${name}/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: manifest,
        keepBody: true,
      }),
    );
    if (put.status !== 201) return;
    this.images.push({ name, tag, digest: digestOf(manifest), blobs: [...layers, config].map(digestOf) });
    // Remember a bounded number: the oldest were untagged long ago and swept.
    if (this.images.length > REPOSITORIES * TAGS * 2) this.images.shift();
  }

  private picked(): Pushed | undefined {
    return this.images[Math.floor(Math.random() * this.images.length)];
  }

  private async pull(): Promise<void> {
    const image = this.picked();
    if (!image) return;
    const manifest = this.count(
      'manifest GET',
      await request(`${this.url}/v2/${image.name}/manifests/${image.digest}`, {
        method: 'GET',
        headers: { Accept: OCI_MANIFEST },
      }),
    );
    if (manifest.status !== 200) return;
    for (const blob of image.blobs)
      this.count('blob GET', await request(`${this.url}/v2/${image.name}/blobs/${blob}`, { method: 'GET' }));
  }

  private async head(): Promise<void> {
    const image = this.picked();
    if (!image) return;
    this.count('blob HEAD', await request(`${this.url}/v2/${image.name}/blobs/${image.blobs[0]}`, { method: 'HEAD' }));
  }

  private async listings(): Promise<void> {
    const first = this.count('catalog GET', await request(`${this.url}/v2/_catalog?n=25`, { method: 'GET' }));
    const next = /<([^>]+)>/.exec(String(first.headers.link ?? ''))?.[1];
    if (next) this.count('catalog GET', await request(new URL(next, this.url).href, { method: 'GET' }));
    const image = this.picked();
    if (image) this.count('tags GET', await request(`${this.url}/v2/${image.name}/tags/list`, { method: 'GET' }));
  }

  private async deleteOne(): Promise<void> {
    const at = Math.floor(Math.random() * this.images.length);
    const image = this.images[at];
    if (!image) return;
    this.images.splice(at, 1);
    this.count(
      'manifest DELETE',
      await request(`${this.url}/v2/${image.name}/manifests/${image.digest}`, { method: 'DELETE' }),
    );
  }

  private async referrers(): Promise<void> {
    const image = this.picked();
    if (!image) return;
    this.count(
      'referrers GET',
      await request(`${this.url}/v2/${image.name}/referrers/${image.digest}`, { method: 'GET' }),
    );
  }

  async step(): Promise<void> {
    const roll = Math.random();
    if (roll < 0.2) await this.push();
    else if (roll < 0.6) await this.pull();
    else if (roll < 0.7) await this.head();
    else if (roll < 0.85) await this.listings();
    else if (roll < 0.93) await this.deleteOne();
    else await this.referrers();
  }

  async collect(at: number): Promise<void> {
    const began = performance.now();
    const reply = this.count(
      'gc POST',
      await request(`${this.url}/_berth/admin/gc?deleteuntagged=true`, { method: 'POST', keepBody: true }),
    );
    if (reply.status !== 200) return;
    const report = JSON.parse(reply.body!.toString('utf8')) as { blobsDeleted: number; manifestsDeleted: number };
    this.collections.push({
      at: Math.round(at),
      seconds: Number(((performance.now() - began) / 1000).toFixed(1)),
      blobsDeleted: report.blobsDeleted,
      manifestsDeleted: report.manifestsDeleted,
    });
  }
}

/** V8 heap in use and committed, and external memory, from the server's Prometheus metrics. */
async function heapOf(metricsUrl: string): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  const reply = await request(metricsUrl, { method: 'GET', keepBody: true });
  const text = reply.body?.toString('utf8') ?? '';
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    heapUsed: value('nodejs_heap_size_used_bytes'),
    heapTotal: value('nodejs_heap_size_total_bytes'),
    external: value('nodejs_external_memory_bytes'),
  };
}

/** Least-squares slope of `value` against minutes. */
function slopePerMinute(samples: Sample[], value: (sample: Sample) => number): number {
  const xs = samples.map((sample) => sample.seconds / 60);
  const ys = samples.map(value);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** What storage holds at the end: blobs, and manifest revisions over every repository. */
function storedCounts(root: string): { blobs: number; revisions: number } {
  const v2 = join(root, 'docker', 'registry', 'v2');
  const count = (folder: string, depth: number): number => {
    if (depth === 0) return 1;
    let total = 0;
    for (const entry of readdirSync(folder, { withFileTypes: true }))
      if (entry.isDirectory()) total += count(join(folder, entry.name), depth - 1);
    return total;
  };
  let revisions = 0;
  for (const team of readdirSync(join(v2, 'repositories', 'soak')))
    revisions += count(join(v2, 'repositories', 'soak', team, '_manifests', 'revisions', 'sha256'), 1);
  return { blobs: count(join(v2, 'blobs', 'sha256'), 2), revisions };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const mib = (bytes: number) => Number((bytes / MiB).toFixed(1));

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'berth-soak-'));
  const debugPort = await freePort();
  const server: RunningServer = await startServer('berth', {
    workDir: work,
    root: join(work, 'data'),
    checkout: CHECKOUT,
    nodeFlags: HEAP_SNAPSHOTS ? ['--heapsnapshot-signal=SIGUSR2'] : [],
    // Continues the http: section, then Berth's own.
    extraConfig: `  debug:
    addr: 127.0.0.1:${debugPort}
    prometheus:
      enabled: true
      path: /metrics
berth:
  workers: 1
  gc:
    graceperiod: 10s
`,
  });
  const metricsUrl = `http://127.0.0.1:${debugPort}/metrics`;
  const load = new Load(server.url);
  const samples: Sample[] = [];
  const durationMs = MINUTES * 60_000;
  const started = Date.now();
  const running = () => Date.now() - started < durationMs;
  const snapshots: string[] = [];
  const snapshot = async (label: string) => {
    if (!HEAP_SNAPSHOTS) return;
    const before = new Set(readdirSync(work));
    process.kill(server.pids()[0]!, 'SIGUSR2');
    for (let i = 0; i < 600; i++) {
      await sleep(100);
      const made = readdirSync(work).find((file) => file.endsWith('.heapsnapshot') && !before.has(file));
      if (made) {
        snapshots.push(`${label}: ${join(work, made)}`);
        return;
      }
    }
  };
  try {
    // Each client takes every CLIENTS-th slot of a schedule of RATE slots a second.
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      for (let slot = client; running(); slot += CLIENTS) {
        const due = started + (slot * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        await load.step();
      }
    });
    const collector = (async () => {
      while (running()) {
        await sleep(GC_EVERY_SECONDS * 1000);
        if (running()) await load.collect((Date.now() - started) / 1000);
      }
    })();
    const sampler = (async () => {
      let snapped = false;
      while (running()) {
        const heap = await heapOf(metricsUrl);
        const seconds = (Date.now() - started) / 1000;
        samples.push({ seconds, rss: memoryOf(server.pids()).rss, ...heap });
        if (!snapped && seconds >= 60) {
          snapped = true;
          await snapshot('after the first minute');
        }
        await sleep(SAMPLE_SECONDS * 1000);
      }
    })();
    await Promise.all([...clients, collector, sampler]);
    await snapshot('at the end');

    const firstMinute = samples.filter((sample) => sample.seconds < 60);
    const lastMinute = samples.filter((sample) => sample.seconds >= MINUTES * 60 - 60);
    const afterWarmUp = samples.filter((sample) => sample.seconds >= 60);
    const csv = join(work, 'samples.csv');
    writeFileSync(
      csv,
      `seconds,rss_bytes,heap_used_bytes,heap_total_bytes,external_bytes\n${samples
        .map(
          (sample) =>
            `${sample.seconds.toFixed(1)},${sample.rss},${sample.heapUsed},${sample.heapTotal},${sample.external}`,
        )
        .join('\n')}\n`,
    );
    const requests = [...load.outcomes.values()].reduce((a, b) => a + b, 0);
    const report = {
      minutes: MINUTES,
      clients: CLIENTS,
      rate: RATE,
      samples: samples.length,
      requests,
      outcomes: Object.fromEntries([...load.outcomes].sort(([a], [b]) => (a < b ? -1 : 1))),
      rssMiB: {
        firstMinute: mib(mean(firstMinute.map((sample) => sample.rss))),
        lastMinute: mib(mean(lastMinute.map((sample) => sample.rss))),
        max: mib(Math.max(...samples.map((sample) => sample.rss))),
        slopePerMinuteAfterFirst: mib(slopePerMinute(afterWarmUp, (sample) => sample.rss)),
      },
      heapUsedMiB: {
        firstMinute: mib(mean(firstMinute.map((sample) => sample.heapUsed))),
        lastMinute: mib(mean(lastMinute.map((sample) => sample.heapUsed))),
        slopePerMinuteAfterFirst: mib(slopePerMinute(afterWarmUp, (sample) => sample.heapUsed)),
      },
      heapTotalMiB: {
        firstMinute: mib(mean(firstMinute.map((sample) => sample.heapTotal))),
        lastMinute: mib(mean(lastMinute.map((sample) => sample.heapTotal))),
      },
      externalMiB: {
        firstMinute: mib(mean(firstMinute.map((sample) => sample.external))),
        lastMinute: mib(mean(lastMinute.map((sample) => sample.external))),
      },
      collections: load.collections,
      stored: storedCounts(join(work, 'data')),
      loadAverage: loadavg().map((value) => Number(value.toFixed(2))),
      csv,
      log: join(work, 'berth.log'),
      ...(snapshots.length > 0 ? { heapSnapshots: snapshots } : {}),
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await server.stop();
    // Keep the samples, log and snapshots; the storage goes.
    rmSync(join(work, 'data'), { recursive: true, force: true });
  }
}

await main();

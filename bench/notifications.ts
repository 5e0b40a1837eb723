/**
 * What notifications cost a request, and how soon they arrive: Berth with no endpoint, Berth
 * with one, and Distribution (Debian's docker-registry) with the same one, on the same machine in
 * the same run, rounds alternating the order. Each round pushes N manifests (4 at a time) to a
 * fresh repository, then GETs each once (a pull event each), against a receiver in this process
 * answering 200 at once. Reported: pushes and pulls per second, and the time from the last
 * push's 201 to the receiver holding every push event. Berth writes each event to its outbox
 * before answering; Distribution keeps its queue in memory.
 *
 *   npm run build && node --import tsx bench/notifications.ts [--manifests 300] [--rounds 5]
 */
import { randomBytes, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expectStatus, request, resolveLocation } from './client.js';
import { freePort, startServer, type RunningServer, type ServerName } from './servers.js';
import { formatNumber, median } from './stats.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const MANIFESTS = option('manifests', 300);
const ROUNDS = option('rounds', 5);
const CONCURRENCY = 4;
const checkout = resolve(import.meta.dirname, '..');

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Push events received, by repository. */
const pushes = new Map<string, number>();
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      events: { action: string; target: { repository: string; mediaType?: string } }[];
    };
    for (const event of events) {
      if (event.action !== 'push' || event.target.mediaType === 'application/octet-stream') continue;
      pushes.set(event.target.repository, (pushes.get(event.target.repository) ?? 0) + 1);
    }
    res.writeHead(200).end();
  });
});
const receiverPort = await freePort();
await new Promise<void>((done) => receiver.listen(receiverPort, '127.0.0.1', () => done()));
const ENDPOINT = `notifications:
  endpoints:
    - name: bench
      url: http://127.0.0.1:${receiverPort}/hook
      timeout: 2s
      threshold: 5
      backoff: 1s
`;

async function pushBlob(url: string, name: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = expectStatus(await request(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' }), 202, 'POST upload');
  const location = resolveLocation(url, start);
  location.searchParams.set('digest', digest);
  expectStatus(await request(location.toString(), { method: 'PUT', body: bytes }), 201, 'PUT upload');
  return digest;
}

async function inParallel(count: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

interface Result {
  pushesPerSecond: number;
  pullsPerSecond: number;
  /** ms from the last 201 to every push event received; undefined without an endpoint. */
  deliveryLagMs?: number;
}

async function measure(server: RunningServer, name: string, notified: boolean): Promise<Result> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layer = randomBytes(1024);
  const configDigest = await pushBlob(server.url, name, config);
  const layerDigest = await pushBlob(server.url, name, layer);
  const manifests = Array.from({ length: MANIFESTS }, (_, index) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
        annotations: { index: String(index) },
      }),
    ),
  );
  const headers = { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' };
  let started = performance.now();
  await inParallel(MANIFESTS, async (index) => {
    const url = `${server.url}/v2/${name}/manifests/t${index}`;
    expectStatus(await request(url, { method: 'PUT', headers, body: manifests[index]! }), 201, 'PUT manifest');
  });
  const pushed = performance.now();
  const pushesPerSecond = MANIFESTS / ((pushed - started) / 1000);
  let deliveryLagMs: number | undefined;
  if (notified) {
    while ((pushes.get(name) ?? 0) < MANIFESTS) await new Promise((done) => setTimeout(done, 5));
    deliveryLagMs = performance.now() - pushed;
  }
  started = performance.now();
  await inParallel(MANIFESTS, async (index) => {
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
    const url = `${server.url}/v2/${name}/manifests/t${index}`;
    expectStatus(await request(url, { method: 'GET', headers: accept }), 200, 'GET manifest');
  });
  const pullsPerSecond = MANIFESTS / ((performance.now() - started) / 1000);
  return { pushesPerSecond, pullsPerSecond, deliveryLagMs };
}

const setups: { label: string; server: ServerName; notified: boolean }[] = [
  { label: 'Berth, no endpoint', server: 'berth', notified: false },
  { label: 'Berth, one endpoint', server: 'berth', notified: true },
  { label: 'Distribution, one endpoint', server: 'distribution', notified: true },
];
const results = new Map<string, Result[]>(setups.map((setup) => [setup.label, []]));
const work = mkdtempSync(join(tmpdir(), 'berth-bench-notify-'));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) {
      const root = mkdtempSync(join(work, `${setup.server}-`));
      const server = await startServer(setup.server, {
        workDir: root,
        root: join(root, 'data'),
        checkout,
        extraConfig: setup.notified ? ENDPOINT : '',
      });
      try {
        results.get(setup.label)!.push(await measure(server, `bench/r${round}`, setup.notified));
      } finally {
        await server.stop();
        rmSync(root, { recursive: true, force: true });
      }
    }
  }
} finally {
  receiver.close();
  rmSync(work, { recursive: true, force: true });
}

const spread = (values: number[]) =>
  `${formatNumber(median(values))} (${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))})`;
console.log(`\n${MANIFESTS} manifests, ${CONCURRENCY} at a time, ${ROUNDS} rounds; load ${loadavg()[0]!.toFixed(2)}`);
console.log('| setup | pushes/s median (min–max) | pulls/s | last 201 → all push events, ms |');
console.log('| --- | --- | --- | --- |');
for (const { label } of setups) {
  const rows = results.get(label)!;
  const lags = rows.flatMap((row) => (row.deliveryLagMs === undefined ? [] : [row.deliveryLagMs]));
  console.log(
    `| ${label} | ${spread(rows.map((row) => row.pushesPerSecond))} | ${spread(rows.map((row) => row.pullsPerSecond))} | ${lags.length > 0 ? spread(lags) : '–'} |`,
  );
}

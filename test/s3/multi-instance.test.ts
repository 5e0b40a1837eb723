/**
 * Two Berth processes on different ports over one bucket (Ceph's radosgw) and one Redis, as
 * behind a load balancer: a chunked push whose requests alternate between them completes; an
 * image pushed through one pulls byte-identical from the other; garbage collection run on one
 * removes what was deleted through the other and keeps the rest; two PATCHes racing on one upload
 * from both instances are serialised; a 1 GiB layer, streamed from a generator, uploads with the
 * receiving process's peak memory under a stated bound; the health endpoint reports Redis, and
 * stays 200 (degraded) once Redis is gone, since both instances still serve pulls.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { tempDir } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { makeImage, pushImage, sha256 } from '../helpers/content.js';
import { client, http } from '../helpers/http.js';
import { redisTool, startRedis, type TestRedis } from '../helpers/redis.js';
import { describeWithTools } from '../helpers/tools.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/**
 * Memory allowed to the process that receives the 1 GiB layer: its peak resident set, and how
 * much that peak may grow during the upload. Measured: 197 to 219 MiB at peak, 138 to 156 MiB
 * before the upload (Node, tsx, fastify, the AWS SDK), so 46 to 81 MiB of growth; the upload itself
 * holds one 10 MiB part buffer, the rest is stream buffers and garbage not yet collected.
 * docs/s3.md has the figures.
 */
const MEMORY_BOUND_MIB = 320;
const GROWTH_BOUND_MIB = 128;

/** Peak resident set size of a process, in MiB (Linux /proc). */
function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
}

/** `size` bytes, 1 MiB blocks of one random block stamped with their index: cheap, not repeating. */
function* generated(size: number, base: Buffer): Generator<Buffer> {
  for (let offset = 0, index = 0; offset < size; offset += base.length, index++) {
    const block = Buffer.from(base.subarray(0, Math.min(base.length, size - offset)));
    block.writeUInt32BE(index, 0);
    yield block;
  }
}

describeWithTools('two Berth instances over one bucket and one Redis', [...cephTools(), redisTool()], () => {
  let ceph: CephCluster;
  let redis: TestRedis;
  let folder: string;
  const instances: Array<BerthProcess & { url: string }> = [];
  let a: BerthProcess & { url: string };
  let b: BerthProcess & { url: string };

  before(async () => {
    [ceph, redis] = await Promise.all([startCeph(), startRedis()]);
    const bucket = await ceph.createBucket();
    folder = tempDir('berth-multi-');
    const config = join(folder, 'config.yml');
    writeFileSync(
      config,
      stringify({
        version: '0.1',
        log: { level: 'info', accesslog: { disabled: true } },
        storage: {
          s3: ceph.s3Config(bucket, { rootdirectory: '/shared' }),
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        redis: { addr: redis.addr },
        http: { addr: '127.0.0.1:0' },
        // Collection on demand only, and nothing kept for being young: the test decides when.
        berth: { gc: { graceperiod: '0s' } },
      }),
    );
    for (let index = 0; index < 2; index++) instances.push(await serveBerth({ args: ['serve', config] }));
    [a, b] = instances as [BerthProcess & { url: string }, BerthProcess & { url: string }];
  });

  after(async () => {
    for (const instance of instances) {
      instance.kill();
      await waitForExit(instance).catch(() => instance.kill('SIGKILL'));
    }
    await redis?.stop();
    await ceph?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('completes a chunked push whose requests alternate between the instances', async () => {
    const content = randomBytes(12 * MIB + 5);
    const digest = sha256(content);
    const start = await client(a.url)('POST', '/v2/multi/chunked/blobs/uploads/');
    assert.equal(start.status, 202);
    let path = new URL(start.header('location')!).pathname;
    const cuts = [0, 100, 2 * MIB, 7 * MIB, 7 * MIB + 1, 12 * MIB, content.length];
    for (let index = 0; index < cuts.length - 1; index++) {
      const target = index % 2 === 0 ? b : a;
      const patch = await http(target.url, path, {
        method: 'PATCH',
        body: content.subarray(cuts[index]!, cuts[index + 1]!),
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${cuts[index]}-${cuts[index + 1]! - 1}`,
        },
      });
      assert.equal(patch.status, 202, `chunk ${index} on ${target === a ? 'A' : 'B'}: ${patch.text()}`);
      assert.equal(patch.header('range'), `0-${cuts[index + 1]! - 1}`);
      path = new URL(patch.header('location')!).pathname;
    }
    const status = await client(a.url)('GET', path);
    assert.equal(status.header('range'), `0-${content.length - 1}`);
    const put = await client(b.url)('PUT', `${path}?digest=${digest}`);
    assert.equal(put.status, 201, put.text());
    const pulled = await fetch(`${a.url}/v2/multi/chunked/blobs/${digest}`);
    assert.equal(pulled.status, 200);
    assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(content));
  });

  it('serves an image pushed through one instance byte-identical from the other', async () => {
    const image = makeImage({ layers: 3 });
    await pushImage(a.url, 'multi/image', 'v1', image);
    const api = client(b.url);
    const manifest = await api('GET', '/v2/multi/image/manifests/v1', { headers: { Accept: image.mediaType } });
    assert.equal(manifest.status, 200);
    assert.ok(manifest.body.equals(image.manifest));
    assert.equal(manifest.header('docker-content-digest'), image.digest);
    for (const blob of [image.config, ...image.layers]) {
      const response = await fetch(`${b.url}/v2/multi/image/blobs/${blob.digest}`); // follows the presigned redirect
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(blob.content), blob.digest);
    }
    assert.deepEqual((await api('GET', '/v2/multi/image/tags/list')).json(), { name: 'multi/image', tags: ['v1'] });
    assert.ok((await api('GET', '/v2/_catalog')).json().repositories.includes('multi/image'));
  });

  it('collects garbage from one instance what was deleted through the other, keeping what is referenced', async () => {
    const old = makeImage({ layers: 2 });
    const current = makeImage({ layers: 1 });
    await pushImage(a.url, 'multi/gc', 'latest', old);
    await pushImage(a.url, 'multi/gc', 'latest', current);
    const removed = await fetch(`${a.url}/v2/multi/gc/manifests/${old.digest}`, { method: 'DELETE' });
    assert.equal(removed.status, 202);
    // S3 times have one-second resolution: a blob written in the same second as the run starts
    // counts as young and is kept (the safe side). Start the run in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const run = await fetch(`${b.url}/_berth/admin/gc`, { method: 'POST' });
    assert.equal(run.status, 200, await run.clone().text());
    const report = (await run.json()) as { blobsDeleted: number };
    // Both images share their config blob (the test helper's config is the same JSON).
    assert.ok(report.blobsDeleted >= 3, `old manifest and layers deleted: ${JSON.stringify(report)}`);
    for (const blob of old.layers) {
      assert.equal(
        (await fetch(`${a.url}/v2/multi/gc/blobs/${blob.digest}`, { method: 'HEAD' })).status,
        404,
        blob.digest,
      );
    }
    const manifest = await client(a.url)('GET', '/v2/multi/gc/manifests/latest', {
      headers: { Accept: current.mediaType },
    });
    assert.ok(manifest.body.equals(current.manifest));
    for (const blob of [current.config, ...current.layers]) {
      const response = await fetch(`${a.url}/v2/multi/gc/blobs/${blob.digest}`);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(blob.content), `kept ${blob.digest}`);
    }
  });

  it('serialises two PATCHes racing on one upload from both instances', async () => {
    const start = await client(a.url)('POST', '/v2/multi/race/blobs/uploads/');
    const path = new URL(start.header('location')!).pathname;
    const chunk = randomBytes(3 * MIB);
    const replies = await Promise.all(
      [a, b].map((target) =>
        http(target.url, path, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `0-${chunk.length - 1}` } }),
      ),
    );
    assert.deepEqual(
      replies.map((reply) => reply.status).sort(),
      [202, 416],
      'one appends, the other finds the offset moved',
    );
    const put = await client(b.url)('PUT', `${path}?digest=${sha256(chunk)}`);
    assert.equal(put.status, 201, 'the upload holds exactly one copy of the chunk');
  });

  it(`uploads a 1 GiB layer with the receiving process under ${MEMORY_BOUND_MIB} MiB (growth under ${GROWTH_BOUND_MIB} MiB), and serves it from the other`, async () => {
    const base = randomBytes(MIB);
    const hash = createHash('sha256');
    for (const block of generated(GIB, base)) hash.update(block);
    const digest = `sha256:${hash.digest('hex')}`;
    const before = peakRssMiB(a.child.pid!);
    const start = await client(a.url)('POST', '/v2/multi/big/blobs/uploads/');
    const path = new URL(start.header('location')!).pathname;
    // One streamed PATCH (chunked transfer encoding, as docker sends a layer), then PUT.
    const started = Date.now();
    const patch = await http(a.url, path, { method: 'PATCH', body: Readable.from(generated(GIB, base)) });
    const patched = Date.now();
    assert.equal(patch.status, 202, patch.text());
    assert.equal(patch.header('range'), `0-${GIB - 1}`);
    const put = await client(a.url)('PUT', `${path}?digest=${digest}`);
    const finished = Date.now();
    assert.equal(put.status, 201, put.text());
    const peak = peakRssMiB(a.child.pid!);
    console.log(
      `1 GiB upload: peak RSS of the receiving Berth ${peak} MiB (before the upload: ${before} MiB); ` +
        `PATCH ${patched - started} ms, PUT (server-side assembly) ${finished - patched} ms`,
    );
    assert.ok(peak < MEMORY_BOUND_MIB, `peak RSS ${peak} MiB`);
    assert.ok(peak - before < GROWTH_BOUND_MIB, `peak RSS grew by ${peak - before} MiB during the upload`);
    const head = await fetch(`${b.url}/v2/multi/big/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(GIB));
    const download = await fetch(`${b.url}/v2/multi/big/blobs/${digest}`);
    const check = createHash('sha256');
    for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) check.update(chunk);
    assert.equal(`sha256:${check.digest('hex')}`, digest);
  });

  it('reports Redis in /_berth/health, and degraded (still 200) once Redis is gone', async () => {
    const healthy = await fetch(`${a.url}/_berth/health`);
    assert.equal(healthy.status, 200);
    const body = (await healthy.json()) as { checks: { redis: { status: string }; storage: { status: string } } };
    assert.equal(body.checks.redis.status, 'ok');
    assert.equal(body.checks.storage.status, 'ok');
    await redis.stop();
    const degraded = await fetch(`${b.url}/_berth/health`);
    assert.equal(degraded.status, 200);
    const report = (await degraded.json()) as { status: string; checks: { redis: { status: string; error?: string } } };
    assert.equal(report.status, 'degraded');
    assert.equal(report.checks.redis.status, 'error');
  });
});

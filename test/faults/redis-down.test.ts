/**
 * Redis goes away under a Berth configured with it. Pulls and manifest GETs go on everywhere;
 * `/_berth/health` stays 200 and reports Redis degraded (a Redis outage is every instance's at
 * once: a load balancer must not drop the whole fleet). On a filesystem, whose upload lock files
 * keep an upload's requests one at a time by themselves, uploads go on, with one warning per
 * outage in the log. On S3, where only Redis can lock an upload across instances, uploads are
 * refused at once with 503 UNAVAILABLE and Retry-After, never 500 and never a hang. Notifications
 * go on under the lease file in storage. Once Redis is
 * back, on the same address, everything works again and health says ok. A Redis that hangs
 * (SIGSTOP: connected, answering nothing) is treated alike after one read timeout.
 *
 * Every request is bounded (REQUEST_BOUND_MS), so a request that would hang fails the test.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { asBody, makeImage, pushImage, sha256, type Image } from '../helpers/content.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { redisTool, startRedis, type TestRedis } from '../helpers/redis.js';
import { describeWithTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

/** Far above any answer here: a request still unanswered then is hanging. */
const REQUEST_BOUND_MS = 15_000;

type LogLine = { level: number; msg: string };

function bounded(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
}

interface Health {
  status: string;
  checks: {
    storage: { status: string };
    redis: { status: string; error?: string; impact?: string };
  };
}

async function health(url: string): Promise<{ status: number; body: Health }> {
  const reply = await bounded(`${url}/_berth/health`);
  return { status: reply.status, body: (await reply.json()) as Health };
}

/** Polls `/_berth/health` until its body's status is `wanted`. */
async function healthBecomes(url: string, wanted: string): Promise<{ status: number; body: Health }> {
  let last: { status: number; body: Health } | undefined;
  const says = async () => {
    last = await health(url);
    return last.body.status === wanted;
  };
  await waitFor(says, `/_berth/health says ${wanted}`, { timeoutMs: 20_000, intervalMs: 100 });
  return last!;
}

/** A single-request push (`POST …/blobs/uploads/?digest=`). */
function monolithic(url: string, name: string, content: Buffer): Promise<Response> {
  return bounded(`${url}/v2/${name}/blobs/uploads/?digest=${sha256(content)}`, {
    method: 'POST',
    body: asBody(content),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
}

/** POST, two PATCHes, PUT; returns each answer's status (stopping at the first unexpected one). */
async function chunked(url: string, name: string, content: Buffer): Promise<number[]> {
  const statuses: number[] = [];
  const start = await bounded(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  statuses.push(start.status);
  await start.body?.cancel();
  if (start.status !== 202) return statuses;
  let location = new URL(start.headers.get('location')!, url);
  const half = Math.floor(content.length / 2);
  for (const [from, to] of [
    [0, half],
    [half, content.length],
  ] as const) {
    const patch = await bounded(location.href, {
      method: 'PATCH',
      body: asBody(content.subarray(from, to)),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${from}-${to - 1}` },
    });
    statuses.push(patch.status);
    await patch.body?.cancel();
    if (patch.status !== 202) return statuses;
    location = new URL(patch.headers.get('location')!, url);
  }
  location.searchParams.set('digest', sha256(content));
  const put = await bounded(location.href, { method: 'PUT' });
  statuses.push(put.status);
  await put.body?.cancel();
  return statuses;
}

/** What is stored before the outage must pull the same during it. */
async function assertPulls(url: string, name: string, image: Image): Promise<void> {
  const manifest = await bounded(`${url}/v2/${name}/manifests/v1`, {
    headers: { Accept: image.mediaType },
  });
  assert.equal(manifest.status, 200, 'manifest GET');
  assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
  const head = await bounded(`${url}/v2/${name}/manifests/v1`, {
    method: 'HEAD',
    headers: { Accept: image.mediaType },
  });
  assert.equal(head.status, 200, 'manifest HEAD');
  for (const blob of [image.config, ...image.layers]) {
    const reply = await bounded(`${url}/v2/${name}/blobs/${blob.digest}`);
    assert.equal(reply.status, 200, `blob GET ${blob.digest}`);
    assert.deepEqual(Buffer.from(await reply.arrayBuffer()), blob.content);
  }
  const tags = await bounded(`${url}/v2/${name}/tags/list`);
  assert.equal(tags.status, 200, 'tags/list');
  assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
}

/** A Berth on `storage` and `redis` (plus `extra` configuration), its log lines kept. */
async function berthWith(
  storage: Record<string, unknown>,
  redis: TestRedis,
  extra: Record<string, unknown> = {},
): Promise<{ berth: TestBerth; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const berth = await startBerth({
    logger,
    config: {
      storage: { ...storage, maintenance: { uploadpurging: { enabled: false } } },
      // A hung Redis costs one read timeout: short here, so the tests of one stay quick.
      redis: { addr: redis.addr, readtimeout: '500ms' },
      ...extra,
    },
  });
  // The first connection is made in the background: wait for it, so the outage is the test's.
  await healthBecomes(berth.url, 'ok');
  return { berth, lines };
}

const logged = (lines: LogLine[], start: string) => lines.filter((line) => line.msg.startsWith(start)).length;

/** Waits for a log line starting with `start`. */
function loggedSoon(lines: LogLine[], start: string): Promise<void> {
  return waitFor(() => logged(lines, start) > 0, `a log line "${start}…"`, { timeoutMs: 20_000 });
}

describeWithTools('Redis down, filesystem storage', [redisTool()], () => {
  let redis: TestRedis;
  let berth: TestBerth;
  let lines: LogLine[];
  let hook: Receiver;
  const image = makeImage({ layers: 2 });

  before(async () => {
    [redis, hook] = await Promise.all([startRedis(), startReceiver()]);
    ({ berth, lines } = await berthWith({}, redis, {
      notifications: { endpoints: [{ name: 'hook', url: hook.url, ignore: { actions: ['pull'] } }] },
    }));
    await pushImage(berth.url, 'outage/app', 'v1', image);
    await redis.stop();
  });

  after(async () => {
    await berth?.close();
    await redis?.stop();
    await hook?.stop();
  });

  it('serves pulls and manifest GETs', async () => {
    await assertPulls(berth.url, 'outage/app', image);
  });

  it('delivers notifications, under the lease file in storage', async () => {
    const fresh = makeImage({ layers: 1 });
    await pushImage(berth.url, 'outage/notified', 'v1', fresh);
    await hook.waitFor(
      (current) =>
        current.events().some((event) => event.target?.repository === 'outage/notified' && event.target?.tag === 'v1'),
      'the manifest push of the outage delivered',
    );
    // The lease held before the outage is renewed within 5 s: that is when the outage shows.
    await loggedSoon(lines, 'notifications: Redis does not answer');
    assert.equal(logged(lines, 'notifications: Redis does not answer'), 1);
  });

  it('takes single-request and chunked uploads, and manifest pushes, warning once', async () => {
    for (let index = 0; index < 5; index++) {
      const content = randomBytes(32 * 1024 + index);
      const whole = await monolithic(berth.url, 'outage/pushed', content);
      assert.equal(whole.status, 201, `single-request push ${index}: ${await whole.text()}`);
      assert.deepEqual(await chunked(berth.url, 'outage/pushed', randomBytes(40 * 1024 + index)), [202, 202, 202, 201]);
      const pulled = await bounded(`${berth.url}/v2/outage/pushed/blobs/${sha256(content)}`);
      assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), content);
    }
    const fresh = makeImage({ layers: 1 });
    const pushed = await pushImage(berth.url, 'outage/new', 'v1', fresh);
    assert.equal(pushed.status, 201);
    assert.equal(logged(lines, 'uploads: Redis does not answer'), 1, 'one warning for the outage, not one per request');
    assert.equal(logged(lines, 'redis: not reachable'), 1);
  });

  it('answers /_berth/health 200, reporting Redis degraded', async () => {
    const { status, body } = await health(berth.url);
    assert.equal(status, 200);
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.storage.status, 'ok');
    assert.equal(body.checks.redis.status, 'error');
    assert.match(body.checks.redis.error!, /not connected/);
    assert.match(body.checks.redis.impact!, /blob uploads go on/);
    const head = await bounded(`${berth.url}/_berth/health`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('works as before once Redis is back on its address', async () => {
    redis = await startRedis({ port: redis.port });
    const { status, body } = await healthBecomes(berth.url, 'ok');
    assert.equal(status, 200);
    assert.equal(body.checks.redis.status, 'ok');
    const content = randomBytes(4096);
    assert.equal((await monolithic(berth.url, 'outage/after', content)).status, 201);
    assert.deepEqual(await chunked(berth.url, 'outage/after', randomBytes(8192)), [202, 202, 202, 201]);
    assert.equal(logged(lines, 'uploads: Redis answers again'), 1);
  });

  it('goes on when Redis hangs (connected, answering nothing), and shares again once it answers', async () => {
    redis.pause();
    try {
      const whole = await monolithic(berth.url, 'outage/hung', randomBytes(4096));
      assert.equal(whole.status, 201, await whole.text());
      assert.deepEqual(await chunked(berth.url, 'outage/hung', randomBytes(8192)), [202, 202, 202, 201]);
      const { status, body } = await health(berth.url);
      assert.equal(status, 200);
      assert.equal(body.status, 'degraded');
      assert.match(body.checks.redis.error!, /timed out/);
    } finally {
      redis.resume();
    }
    await healthBecomes(berth.url, 'ok');
    assert.equal((await monolithic(berth.url, 'outage/hung', randomBytes(4096))).status, 201);
  });
});

describeWithTools('Redis down, S3 storage', [...cephTools(), redisTool()], () => {
  let ceph: CephCluster;
  let redis: TestRedis;
  let berth: TestBerth;
  let lines: LogLine[];
  let pending: URL;
  const image = makeImage({ layers: 2 });
  const unreferenced = makeImage({ layers: 1 });

  before(async () => {
    [ceph, redis] = await Promise.all([startCeph(), startRedis()]);
    const bucket = await ceph.createBucket();
    ({ berth, lines } = await berthWith({ filesystem: undefined, s3: ceph.s3Config(bucket) }, redis));
    await pushImage(berth.url, 'outage/app', 'v1', image);
    // Blobs of an image whose manifest is pushed during the outage.
    await pushImage(berth.url, 'outage/later', 'v0', unreferenced);
    const start = await bounded(`${berth.url}/v2/outage/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    pending = new URL(start.headers.get('location')!, berth.url);
    await redis.stop();
  });

  after(async () => {
    await berth?.close();
    await redis?.stop();
    await ceph?.stop();
  });

  it('serves pulls and manifest GETs', async () => {
    await assertPulls(berth.url, 'outage/app', image);
  });

  it('refuses uploads at once with 503 UNAVAILABLE and Retry-After, never 500', async () => {
    const content = randomBytes(64 * 1024);
    const refusals = [
      await monolithic(berth.url, 'outage/pushed', content),
      await bounded(`${berth.url}/v2/outage/pushed/blobs/uploads/`, { method: 'POST' }),
      await bounded(pending.href, {
        method: 'PATCH',
        body: asBody(content),
        headers: { 'Content-Type': 'application/octet-stream' },
      }),
    ];
    for (const reply of refusals) {
      assert.equal(reply.status, 503, await reply.clone().text());
      assert.equal(reply.headers.get('retry-after'), '5');
      const body = (await reply.json()) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
      assert.match(body.errors[0]!.message, /blob uploads need Redis, which is unavailable/);
    }
    assert.equal(logged(lines, 'uploads: Redis does not answer; blob uploads are refused'), 1);
  });

  it('takes manifest pushes and mounts, which need no lock', async () => {
    const put = await bounded(`${berth.url}/v2/outage/later/manifests/v1`, {
      method: 'PUT',
      body: asBody(unreferenced.manifest),
      headers: { 'Content-Type': unreferenced.mediaType },
    });
    assert.equal(put.status, 201, await put.text());
    const mount = await bounded(
      `${berth.url}/v2/outage/mounted/blobs/uploads/?mount=${image.layers[0]!.digest}&from=outage/app`,
      { method: 'POST' },
    );
    assert.equal(mount.status, 201, await mount.text());
  });

  it('answers /_berth/health 200, reporting Redis degraded and uploads refused', async () => {
    const { status, body } = await health(berth.url);
    assert.equal(status, 200);
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.storage.status, 'ok');
    assert.equal(body.checks.redis.status, 'error');
    assert.match(body.checks.redis.impact!, /blob uploads are refused with 503/);
  });

  it('takes uploads again once Redis is back, the one begun before included', async () => {
    redis = await startRedis({ port: redis.port });
    await healthBecomes(berth.url, 'ok');
    const content = randomBytes(64 * 1024);
    assert.equal((await monolithic(berth.url, 'outage/after', content)).status, 201);
    assert.deepEqual(await chunked(berth.url, 'outage/after', randomBytes(8192)), [202, 202, 202, 201]);
    const patch = await bounded(pending.href, {
      method: 'PATCH',
      body: asBody(content),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(patch.status, 202, await patch.text());
    const done = new URL(patch.headers.get('location')!, berth.url);
    done.searchParams.set('digest', sha256(content));
    assert.equal((await bounded(done.href, { method: 'PUT' })).status, 201);
  });

  it('refuses uploads with 503 while Redis hangs (connected, answering nothing)', async () => {
    redis.pause();
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const reply = await monolithic(berth.url, 'outage/hung', randomBytes(4096));
        assert.equal(reply.status, 503, await reply.clone().text());
        assert.equal(reply.headers.get('retry-after'), '5');
        assert.equal(((await reply.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNAVAILABLE');
      }
      assert.equal((await health(berth.url)).status, 200);
    } finally {
      redis.resume();
    }
    await healthBecomes(berth.url, 'ok');
    assert.equal((await monolithic(berth.url, 'outage/hung', randomBytes(4096))).status, 201);
  });
});

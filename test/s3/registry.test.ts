/**
 * Berth over the S3 driver, through the registry API, on Ceph's radosgw: pushes land in the
 * bucket in Distribution's layout; chunked uploads with chunks below S3's 5 MiB part minimum
 * finish intact; blobs are served with Range or redirected to a presigned URL; the catalog comes
 * from the repository index (built from the bucket when missing, kept right by deletes); and the
 * health endpoint reports storage reachability.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { validateConfig } from '../../src/config/load.js';
import { checkHealth } from '../../src/http/health.js';
import { S3Driver } from '../../src/storage/s3/driver.js';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { makeImage, pushImage, randomBlob, sha256 } from '../helpers/content.js';
import { client } from '../helpers/http.js';
import { describeWithTools } from '../helpers/tools.js';
import { imageOf } from '../gc/support.js';

const MIB = 1024 * 1024;

describeWithTools('Berth on S3 (Ceph)', cephTools(), () => {
  let ceph: CephCluster;
  let raw: S3Client;
  const berths: TestBerth[] = [];

  async function berthOn(bucket: string, extra: Record<string, unknown> = {}, redirect = true): Promise<TestBerth> {
    const berth = await startBerth({
      config: {
        storage: {
          filesystem: undefined,
          s3: ceph.s3Config(bucket, { chunksize: 5 * MIB, ...extra }),
          redirect: { disable: !redirect },
          maintenance: { uploadpurging: { enabled: false } },
        },
      },
    });
    berths.push(berth);
    return berth;
  }

  async function keys(bucket: string, prefix: string): Promise<string[]> {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await raw.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      found.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return found.sort();
  }

  before(async () => {
    ceph = await startCeph();
    raw = new S3Client({
      region: ceph.region,
      endpoint: ceph.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    });
  });

  after(async () => {
    for (const berth of berths) await berth.close();
    raw?.destroy();
    await ceph?.stop();
  });

  it('stores a pushed image in Distribution’s layout and serves it back through Berth', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket, { rootdirectory: '/registry' }, false);
    const image = makeImage({ layers: 2 });
    await pushImage(berth.url, 'library/app', 'v1', image);
    const stored = await keys(bucket, 'registry/docker/registry/v2/');
    for (const blob of [image.config, ...image.layers]) {
      const hex = blob.digest.slice('sha256:'.length);
      assert.ok(
        stored.includes(`registry/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`),
        `blob ${blob.digest}`,
      );
      assert.ok(stored.includes(`registry/docker/registry/v2/repositories/library/app/_layers/sha256/${hex}/link`));
    }
    assert.ok(stored.includes('registry/docker/registry/v2/repositories/library/app/_manifests/tags/v1/current/link'));
    assert.ok(!stored.some((key) => key.includes('/_uploads/')), 'no upload is left');
    const api = client(berth.url);
    const manifest = await api('GET', '/v2/library/app/manifests/v1', { headers: { Accept: image.mediaType } });
    assert.equal(manifest.status, 200);
    assert.ok(manifest.body.equals(image.manifest));
    const layer = image.layers[0]!;
    const whole = await api('GET', `/v2/library/app/blobs/${layer.digest}`);
    assert.equal(whole.status, 200, 'served through Berth with redirect disabled');
    assert.ok(whole.body.equals(layer.content));
    const ranged = await api('GET', `/v2/library/app/blobs/${layer.digest}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.header('content-range'), `bytes 100-199/${layer.content.length}`);
    assert.ok(ranged.body.equals(layer.content.subarray(100, 200)));
  });

  it('finishes a chunked upload whose chunks are smaller than 5 MiB, moving it server-side', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const api = client(berth.url);
    const content = randomBytes(13 * MIB + 17);
    const digest = sha256(content);
    const start = await api('POST', '/v2/chunks/blobs/uploads/');
    assert.equal(start.status, 202);
    let location = new URL(start.header('location')!).pathname;
    const cuts = [0, 1024, 3 * MIB, 6 * MIB, 6 * MIB + 1, 11 * MIB, content.length];
    for (let index = 0; index < cuts.length - 1; index++) {
      const chunk = content.subarray(cuts[index]!, cuts[index + 1]!);
      const patch = await api('PATCH', location, {
        body: chunk,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${cuts[index]}-${cuts[index + 1]! - 1}`,
        },
      });
      assert.equal(patch.status, 202, patch.text());
      assert.equal(patch.header('range'), `0-${cuts[index + 1]! - 1}`);
      location = new URL(patch.header('location')!).pathname;
    }
    const status = await api('GET', location);
    assert.equal(status.header('range'), `0-${content.length - 1}`);
    const put = await api('PUT', `${location}?digest=${digest}`);
    assert.equal(put.status, 201, put.text());
    const hex = digest.slice('sha256:'.length);
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: `docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data` }),
    );
    assert.equal(head.ContentLength, content.length);
    assert.deepEqual(
      await keys(bucket, 'docker/registry/v2/repositories/chunks/_uploads/'),
      [],
      'upload pieces removed',
    );
    // Redirect on: GET answers 307 to a presigned URL that serves the bytes (and ranges).
    const redirected = await fetch(`${berth.url}/v2/chunks/blobs/${digest}`, { redirect: 'manual' });
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers.get('docker-content-digest'), digest);
    const target = redirected.headers.get('location')!;
    assert.ok(target.startsWith(`${ceph.endpoint}/${bucket}/docker/registry/v2/blobs/sha256/`), target);
    const followed = await fetch(`${berth.url}/v2/chunks/blobs/${digest}`);
    assert.equal(followed.status, 200);
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), digest);
    const ranged = await fetch(`${berth.url}/v2/chunks/blobs/${digest}`, {
      headers: { Range: 'bytes=5242870-5242889' },
    });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(content.subarray(5242870, 5242890)));
    const headBlob = await api('HEAD', `/v2/chunks/blobs/${digest}`);
    assert.equal(headBlob.status, 200, 'HEAD is answered by Berth, digest header included');
    assert.equal(headBlob.header('content-length'), String(content.length));
    assert.equal(headBlob.header('docker-content-digest'), digest);
  });

  it('refuses a chunk that does not start at the upload’s offset, and a wrong digest, leaving no blob', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const api = client(berth.url);
    const start = await api('POST', '/v2/wrong/blobs/uploads/');
    const location = new URL(start.header('location')!).pathname;
    await api('PATCH', location, { body: randomBytes(100), headers: { 'Content-Range': '0-99' } });
    const gap = await api('PATCH', location, { body: randomBytes(10), headers: { 'Content-Range': '200-209' } });
    assert.equal(gap.status, 416);
    assert.equal(gap.header('range'), '0-99');
    const put = await api('PUT', `${location}?digest=${randomBlob(1).digest}`);
    assert.equal(put.status, 400);
    assert.deepEqual(await keys(bucket, 'docker/registry/v2/blobs/'), []);
    assert.deepEqual(await keys(bucket, 'docker/registry/v2/repositories/wrong/_uploads/'), []);
  });

  it('lists the catalog from the repository index, builds it for a bucket without one, and drops emptied repositories', async () => {
    const bucket = await ceph.createBucket();
    // Repositories written by another registry: links only, no index.
    const link = `sha256:${'a'.repeat(64)}`;
    for (const name of ['legacy/one', 'legacy/two']) {
      await raw.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `docker/registry/v2/repositories/${name}/_layers/sha256/${'a'.repeat(64)}/link`,
          Body: link,
        }),
      );
    }
    const berth = await berthOn(bucket);
    const api = client(berth.url);
    for (const name of ['b/c', 'a-b', 'a', 'a/b']) await pushImage(berth.url, name, 'latest', makeImage({ layers: 1 }));
    const catalog = await api('GET', '/v2/_catalog');
    assert.deepEqual(catalog.json().repositories, ['a', 'a-b', 'a/b', 'b/c', 'legacy/one', 'legacy/two']);
    const first = await api('GET', '/v2/_catalog?n=2');
    assert.deepEqual(first.json().repositories, ['a', 'a-b']);
    const next = await api('GET', '/v2/_catalog?n=3&last=a-b');
    assert.deepEqual(next.json().repositories, ['a/b', 'b/c', 'legacy/one']);
    assert.ok((await keys(bucket, '~berth/catalog/')).includes('~berth/catalog/state'), 'the built index is recorded');
    // Emptying a repository through the API (its one blob link) takes it out of the index.
    const unlinked = await api('DELETE', `/v2/legacy/one/blobs/${link}`);
    assert.equal(unlinked.status, 202);
    assert.deepEqual((await api('GET', '/v2/_catalog')).json().repositories, ['a', 'a-b', 'a/b', 'b/c', 'legacy/two']);
    // Tags are one listing of the repository's tags folder.
    const image = makeImage({ layers: 1 });
    for (const tag of ['v2', 'v1', 'latest']) await pushImage(berth.url, 'tagged', tag, image);
    assert.deepEqual((await api('GET', '/v2/tagged/tags/list')).json(), {
      name: 'tagged',
      tags: ['latest', 'v1', 'v2'],
    });
    // A missing state record makes the next catalog request rebuild the index from the bucket.
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: '~berth/catalog/repositories/legacy/two' }));
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: '~berth/catalog/state' }));
    assert.deepEqual((await api('GET', '/v2/_catalog')).json().repositories, [
      'a',
      'a-b',
      'a/b',
      'b/c',
      'legacy/two',
      'tagged',
    ]);
  });

  it('reports storage reachability at /_berth/health', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const reply = await fetch(`${berth.url}/_berth/health`);
    assert.equal(reply.status, 200);
    const body = (await reply.json()) as {
      status: string;
      checks: { storage: { status: string; driver: string }; redis: { status: string } };
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.storage.status, 'ok');
    assert.equal(body.checks.storage.driver, 's3');
    assert.equal(body.checks.redis.status, 'disabled');
    const missing = new S3Driver(
      validateConfig({ storage: { s3: ceph.s3Config('no-such-bucket') } }).config.storage.s3!,
    );
    const health = await checkHealth(missing, undefined);
    assert.equal(health.healthy, false);
    assert.equal((health.body as { checks: { storage: { status: string } } }).checks.storage.status, 'error');
    await missing.close();
  });

  it('keeps storage accounting records in the bucket: a second instance reads the same figures from them', async () => {
    const bucket = await ceph.createBucket();
    const first = await berthOn(bucket);
    const shared = randomBlob(4_000);
    for (const name of ['acct/one', 'acct/two'])
      await pushImage(first.url, name, 'v1', imageOf([shared, randomBlob(500)]));
    const usage = async (berth: TestBerth) =>
      (await (await fetch(`${berth.url}/_berth/admin/usage`)).json()) as {
        repositories: Array<{ name: string; shared: number }>;
      };
    const report = await usage(first);
    assert.deepEqual(
      report.repositories.map((entry) => [entry.name, entry.shared >= 4_000]),
      [
        ['acct/one', true],
        ['acct/two', true],
      ],
    );
    await first.berth.registry.accounting.compact();
    const stored = await keys(bucket, 'docker/registry/v2/_berth/usage/');
    assert.ok(stored.includes('docker/registry/v2/_berth/usage/state'), stored.join('\n'));
    assert.ok(stored.includes('docker/registry/v2/_berth/usage/repositories/acct/one/_usage'));
    const second = await berthOn(bucket);
    assert.deepEqual(await usage(second), report);
  });
});

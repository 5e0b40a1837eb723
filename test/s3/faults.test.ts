/**
 * S3 faults on Ceph's radosgw:
 *
 * - a client that goes away mid-body, during a single-request push or a chunked upload's PATCH,
 *   leaves no piece and no multipart upload in the bucket beyond what earlier requests stored
 *   (a chunked upload stays resumable from there), and the registry goes on serving;
 * - a push over the bucket's quota (`radosgw-admin quota set --quota-scope=bucket`) answers
 *   507 Insufficient Storage naming the quota, leaves nothing of itself in the bucket, stored
 *   images still pull, and pushes work again once the quota is raised.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { abortMidBody } from '../helpers/abort.js';
import { pullsBack, pushBlob } from '../helpers/blobs.js';
import { makeImage, pushImage, randomBlob } from '../helpers/content.js';
import { client, type HttpReply } from '../helpers/http.js';
import { describeWithTools } from '../helpers/tools.js';
import { pullVerified } from '../gc/support.js';

const MIB = 1024 * 1024;
const V2 = 'docker/registry/v2';

function assertFull(reply: HttpReply, what: string): void {
  assert.equal(reply.status, 507, `${what}: ${reply.status} ${reply.text()}`);
  const body = JSON.parse(reply.text()) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors.length, 1);
  assert.match(body.errors[0]!.message, /insufficient storage.*QuotaExceeded: the bucket quota is exhausted/);
}

describeWithTools('S3 faults (Ceph): aborted transfers and a full bucket quota', cephTools(), () => {
  let ceph: CephCluster;
  let raw: S3Client;
  const berths: TestBerth[] = [];

  async function berthOn(bucket: string): Promise<TestBerth> {
    const berth = await startBerth({
      config: {
        storage: {
          filesystem: undefined,
          s3: ceph.s3Config(bucket, { chunksize: 5 * MIB }),
          redirect: { disable: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
      },
    });
    berths.push(berth);
    return berth;
  }

  async function keys(bucket: string, prefix = ''): Promise<Array<{ key: string; size: number }>> {
    const found: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await raw.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      found.push(...(page.Contents ?? []).map((object) => ({ key: object.Key!, size: object.Size ?? 0 })));
      token = page.NextContinuationToken;
    } while (token);
    return found.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  const uploadKeys = async (bucket: string, name: string) =>
    (await keys(bucket, `${V2}/repositories/${name}/_uploads/`)).map((entry) => entry.key);

  async function multipartUploads(bucket: string): Promise<string[]> {
    const listed = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (listed.Uploads ?? []).map((upload) => `${upload.Key} ${upload.UploadId}`);
  }

  /** Polls until `check` holds (a bound against hangs, not a timing assertion). */
  async function settle(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  async function startUpload(berth: TestBerth, name: string): Promise<string> {
    const start = await client(berth.url)('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(start.status, 202);
    return (
      new URL(start.header('location')!, berth.url).pathname + new URL(start.header('location')!, berth.url).search
    );
  }

  async function patch(berth: TestBerth, location: string, content: Buffer, offset: number): Promise<HttpReply> {
    return client(berth.url)('PATCH', location, {
      body: content,
      headers: { 'Content-Range': `${offset}-${offset + content.length - 1}` },
    });
  }

  before(async () => {
    ceph = await startCeph();
    raw = ceph.client;
  });

  after(async () => {
    for (const berth of berths) await berth.close();
    await ceph?.stop();
  });

  it('a single-request push cut off mid-body leaves no piece and no multipart upload', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const name = 'aborts/monolithic';
    const never = randomBlob(64).digest;
    // 7 MiB of 12: one 5 MiB piece is stored while the body arrives; 1 MiB of 12: none.
    await abortMidBody(berth.host, 'POST', `/v2/${name}/blobs/uploads/?digest=${never}`, 12 * MIB, 7 * MIB, 500);
    await abortMidBody(berth.host, 'POST', `/v2/${name}/blobs/uploads/?digest=${never}`, 12 * MIB, 1 * MIB);
    await settle(async () => (await uploadKeys(bucket, name)).length === 0, 'the aborted uploads to be removed');
    assert.deepEqual(await multipartUploads(bucket), []);

    // The registry still serves: the same repository takes a whole push, which pulls back.
    const image = makeImage({ layers: 2 });
    await pushImage(berth.url, name, 'v1', image);
    await pullVerified(berth.url, name, 'v1');
    const big = randomBlob(7 * MIB);
    assert.equal((await pushBlob(berth, name, big)).status, 201);
    await pullsBack(berth, name, big);
    assert.deepEqual(await uploadKeys(bucket, name), []);
    assert.deepEqual(await multipartUploads(bucket), []);
  });

  it('a chunked upload whose PATCH is cut off keeps only what earlier PATCHes stored, and resumes', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const name = 'aborts/chunked';
    const blob = randomBlob(14 * MIB);
    const location = await startUpload(berth, name);
    const first = blob.content.subarray(0, 6 * MIB);
    assert.equal((await patch(berth, location, first, 0)).status, 202);
    const before = await uploadKeys(bucket, name);

    // 7 MiB of the next 8: a piece is stored while the body arrives, then the client goes away.
    const path = new URL(location, berth.url);
    await abortMidBody(berth.host, 'PATCH', path.pathname + path.search, 8 * MIB, 7 * MIB, 500);
    await settle(
      async () => JSON.stringify(await uploadKeys(bucket, name)) === JSON.stringify(before),
      'the cut-off PATCH to remove the pieces it stored',
    );
    assert.deepEqual(await multipartUploads(bucket), []);
    const status = await client(berth.url)('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), `0-${first.length - 1}`, 'the upload resumes where the last PATCH ended');

    const rest = blob.content.subarray(first.length);
    const resumed = await patch(berth, location, rest, first.length);
    assert.equal(resumed.status, 202);
    const done = new URL(resumed.header('location')!, berth.url);
    done.searchParams.set('digest', blob.digest);
    assert.equal((await client(berth.url)('PUT', done.pathname + done.search)).status, 201);
    await pullsBack(berth, name, blob);
    assert.deepEqual(await uploadKeys(bucket, name), []);
    assert.deepEqual(await multipartUploads(bucket), []);
  });

  it('a push over the bucket quota answers 507, leaves nothing of itself, and works once the quota is raised', async () => {
    const bucket = await ceph.createBucket();
    const berth = await berthOn(bucket);
    const stored = makeImage({ layers: 2 });
    await pushImage(berth.url, 'quota/kept', 'v1', stored);
    const storedBig = randomBlob(6 * MIB);
    assert.equal((await pushBlob(berth, 'quota/kept', storedBig)).status, 201);

    const used = (await keys(bucket)).reduce((sum, entry) => sum + entry.size, 0);
    // Room for 14 MiB more: for the pieces of a 10 MiB upload, not for a 16 MiB layer, nor for
    // the 10 MiB upload's pieces and their copy into blobs/ together.
    await ceph.admin(['quota', 'set', '--quota-scope=bucket', `--bucket=${bucket}`, `--max-size=${used + 14 * MIB}`]);
    await ceph.admin(['quota', 'enable', '--quota-scope=bucket', `--bucket=${bucket}`]);
    const snapshot = JSON.stringify(await keys(bucket));
    const big = randomBlob(16 * MIB);

    assertFull(await pushBlob(berth, 'quota/app', big), 'single-request push');
    assert.deepEqual(await uploadKeys(bucket, 'quota/app'), [], 'the single-request upload is removed');

    const location = await startUpload(berth, 'quota/app');
    assertFull(await patch(berth, location, big.content, 0), 'PATCH');
    assert.deepEqual(await uploadKeys(bucket, 'quota/app'), [], 'the upload the PATCH could not store is removed');
    assert.equal((await client(berth.url)('GET', location)).status, 404);

    // An upload whose pieces fit, but not their assembly into blobs/ (a multipart copy).
    const fits = randomBlob(10 * MIB);
    const second = await startUpload(berth, 'quota/app');
    const patched = await patch(berth, second, fits.content, 0);
    assert.equal(patched.status, 202);
    const finish = new URL(patched.header('location')!, berth.url);
    finish.searchParams.set('digest', fits.digest);
    assertFull(await client(berth.url)('PUT', finish.pathname + finish.search), 'PUT completing an upload');
    assert.deepEqual(await uploadKeys(bucket, 'quota/app'), [], 'the upload that could not be completed is removed');

    assert.deepEqual(await multipartUploads(bucket), [], 'no multipart upload is left');
    assert.equal(JSON.stringify(await keys(bucket)), snapshot, 'the bucket holds what it held before the pushes');
    await pullVerified(berth.url, 'quota/kept', 'v1');
    await pullsBack(berth, 'quota/kept', storedBig);

    await ceph.admin(['quota', 'set', '--quota-scope=bucket', `--bucket=${bucket}`, `--max-size=${used + 96 * MIB}`]);
    await settle(
      async () => (await pushBlob(berth, 'quota/app', big)).status === 201,
      'a push after raising the quota',
    );
    await pullsBack(berth, 'quota/app', big);
    const image = makeImage({ layers: 1 });
    await pushImage(berth.url, 'quota/app', 'v1', image);
    await pullVerified(berth.url, 'quota/app', 'v1');
    assert.deepEqual(await multipartUploads(bucket), []);
  });
});

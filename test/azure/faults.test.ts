/**
 * Azure faults on Azurite:
 *
 * - a client that goes away mid-body, during a single-request push or a chunked upload's PATCH,
 *   leaves nothing in the container beyond what earlier requests committed (the blocks it staged
 *   are never committed, so no reader sees them), a chunked upload resumes from there, and the
 *   registry goes on serving;
 * - a push into an emulator that holds no more data answers 507 naming the cause, and stored
 *   images still pull.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerClient } from '@azure/storage-blob';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { startAzurite, type TestAzurite } from '../helpers/azurite.js';
import { abortMidBody } from '../helpers/abort.js';
import { pullsBack, pushBlob } from '../helpers/blobs.js';
import { makeImage, pushImage, randomBlob } from '../helpers/content.js';
import { client } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { pullVerified } from '../gc/support.js';

const MIB = 1024 * 1024;
const V2 = 'docker/registry/v2';

async function berthOn(azurite: TestAzurite, container: string): Promise<TestBerth> {
  return startBerth({
    config: {
      storage: {
        filesystem: undefined,
        azure: azurite.azureConfig(container),
        redirect: { disable: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
    },
  });
}

describe('Azure faults (Azurite): aborted transfers', () => {
  let azurite: TestAzurite;
  let container: string;
  let raw: ContainerClient;
  let berth: TestBerth;

  async function uploadBlobs(name: string): Promise<string[]> {
    const found: string[] = [];
    for await (const blob of raw.listBlobsFlat({ prefix: `${V2}/repositories/${name}/_uploads/` })) {
      found.push(`${blob.name} ${blob.properties.contentLength} ${blob.properties.etag}`);
    }
    return found.sort();
  }

  before(async () => {
    azurite = await startAzurite();
    container = await azurite.createContainer();
    raw = azurite.service.getContainerClient(container);
    berth = await berthOn(azurite, container);
  });

  after(async () => {
    await berth?.close();
    await azurite?.stop();
  });

  it('a single-request push cut off mid-body leaves nothing of itself', async () => {
    const name = 'aborts/monolithic';
    const never = randomBlob(64).digest;
    // 7 MiB of 12: a 4 MiB block is staged while the body arrives; 1 MiB of 12: none.
    await abortMidBody(berth.host, 'POST', `/v2/${name}/blobs/uploads/?digest=${never}`, 12 * MIB, 7 * MIB, 500);
    await abortMidBody(berth.host, 'POST', `/v2/${name}/blobs/uploads/?digest=${never}`, 12 * MIB, 1 * MIB);
    await waitFor(async () => (await uploadBlobs(name)).length === 0, 'the aborted uploads to be removed');

    // The registry still serves: the same repository takes a whole push, which pulls back.
    const image = makeImage({ layers: 2 });
    await pushImage(berth.url, name, 'v1', image);
    await pullVerified(berth.url, name, 'v1');
    const big = randomBlob(7 * MIB);
    assert.equal((await pushBlob(berth, name, big)).status, 201);
    await pullsBack(berth, name, big);
    assert.deepEqual(await uploadBlobs(name), []);
  });

  it('a chunked upload whose PATCH is cut off keeps what earlier PATCHes committed, and resumes', async () => {
    const name = 'aborts/chunked';
    const blob = randomBlob(14 * MIB);
    const api = client(berth.url);
    const start = await api('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(start.status, 202);
    const location = new URL(start.header('location')!, berth.url);
    const first = blob.content.subarray(0, 6 * MIB);
    const patched = await api('PATCH', location.pathname + location.search, {
      body: first,
      headers: { 'Content-Range': `0-${first.length - 1}` },
    });
    assert.equal(patched.status, 202);
    const before = await uploadBlobs(name);

    // 7 MiB of the next 8: a block is staged while the body arrives, then the client goes away.
    await abortMidBody(berth.host, 'PATCH', location.pathname + location.search, 8 * MIB, 7 * MIB, 500);
    // The request's lock goes once the server has seen the reset; the data is as it was throughout.
    await waitFor(
      async () => JSON.stringify(await uploadBlobs(name)) === JSON.stringify(before),
      'the upload to be as the last PATCH left it, to the etag',
    );
    const status = await api('GET', location.pathname + location.search);
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), `0-${first.length - 1}`, 'the upload resumes where the last PATCH ended');

    const rest = blob.content.subarray(first.length);
    const resumed = await api('PATCH', location.pathname + location.search, {
      body: rest,
      headers: { 'Content-Range': `${first.length}-${blob.content.length - 1}` },
    });
    assert.equal(resumed.status, 202, resumed.text());
    const done = new URL(resumed.header('location')!, berth.url);
    done.searchParams.set('digest', blob.digest);
    assert.equal((await api('PUT', done.pathname + done.search)).status, 201);
    await pullsBack(berth, name, blob);
    assert.deepEqual(await uploadBlobs(name), []);
  });
});

describe('Azure faults (Azurite): no room left', () => {
  it('a push into a full emulator answers 507 naming the cause, and stored images still pull', async () => {
    const azurite = await startAzurite({ inMemory: true, memoryLimitMiB: 2 });
    const container = await azurite.createContainer();
    const berth = await berthOn(azurite, container);
    try {
      const name = 'full/app';
      const image = makeImage({ layers: 1 });
      await pushImage(berth.url, name, 'v1', image);
      const reply = await pushBlob(berth, name, randomBlob(3 * MIB));
      assert.equal(reply.status, 507, `${reply.status} ${reply.text()}`);
      const body = JSON.parse(reply.text()) as { errors: Array<{ message: string }> };
      assert.match(body.errors[0]!.message, /insufficient storage.*MemoryExtentStoreAtSizeLimit/);
      await pullVerified(berth.url, name, 'v1');
    } finally {
      await berth.close();
      await azurite.stop();
    }
  });
});

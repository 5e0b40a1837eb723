/**
 * What the Azure driver does beyond the common contract, checked on Azurite and in the container
 * itself: Distribution's blob names under `rootdirectory`, appends kept as committed block lists
 * (small appends folded into 4 MiB blocks, resumable from another driver instance, a failed or
 * racing append leaving the file as it was), move as a server-side copy, SAS redirects, and the
 * block-size schedule.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { validateConfig } from '../../src/config/load.js';
import { PathNotFoundError, storageFullCause } from '../../src/storage/driver.js';
import { AzureDriver } from '../../src/storage/azure/driver.js';
import { BLOCKS_PER_TIER, blockSize, capacity, MIN_BIG_BLOCK } from '../../src/storage/azure/blocks.js';
import { startAzurite, type TestAzurite } from '../helpers/azurite.js';
import { append, readAll } from '../helpers/driver-io.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe('Azure block-size schedule (no server)', () => {
  it('holds more than 1 TiB in 50,000 blocks, with 4 MiB blocks up to 39 GiB', () => {
    assert.ok(capacity() > 1024 * GIB, `capacity ${capacity()}`);
    assert.equal(blockSize(0), 4 * MIB);
    assert.equal(blockSize(BLOCKS_PER_TIER - 1), 4 * MIB);
    assert.equal(blockSize(BLOCKS_PER_TIER), 8 * MIB);
    assert.equal(MIN_BIG_BLOCK * BLOCKS_PER_TIER, 40_000 * MIB);
    let total = 0;
    let index = 0;
    while (total < 100 * GIB) total += blockSize(index++);
    assert.ok(blockSize(index - 1) <= 16 * MIB, 'a 100 GiB layer holds at most 16 MiB in memory');
  });
});

describe('Azure driver on Azurite', () => {
  let azurite: TestAzurite;
  let container: string;
  let raw: ContainerClient;

  function driver(extra: Record<string, unknown> = {}, redirect = true): AzureDriver {
    const { config } = validateConfig({ storage: { azure: azurite.azureConfig(container, extra) } });
    return new AzureDriver(config.storage.azure!, { redirect });
  }

  async function names(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const blob of raw.listBlobsFlat({ prefix })) found.push(blob.name);
    return found.sort();
  }

  /** Sizes of the committed blocks of a blob, in order. */
  async function blockSizes(name: string): Promise<number[]> {
    const list = await raw.getBlockBlobClient(name).getBlockList('committed');
    return (list.committedBlocks ?? []).map((block) => block.size);
  }

  before(async () => {
    azurite = await startAzurite();
    container = await azurite.createContainer();
    raw = azurite.service.getContainerClient(container);
  });

  after(async () => {
    await azurite?.stop();
  });

  it('stores paths under rootdirectory exactly as Distribution names its blobs', async () => {
    const azure = driver({ rootdirectory: '/registry/' });
    await azure.putContent('/docker/registry/v2/repositories/a/_layers/sha256/ab/link', 'sha256:ab');
    assert.deepEqual(
      await names('registry/'),
      ['registry/docker/registry/v2/repositories/a/_layers/sha256/ab/link', 'registry/~berth/catalog/repositories/a'],
      'the link, and the repository index entry beside the tree',
    );
    const bare = driver();
    await bare.putContent('/docker/registry/v2/blobs/x', 'x');
    assert.deepEqual(await names('docker/'), ['docker/registry/v2/blobs/x']);
    assert.deepEqual(await azure.repositoryIndex.all(), ['a']);
  });

  it('keeps small appends as small blocks and folds them into a 4 MiB block once they reach it', async () => {
    const azure = driver({ rootdirectory: '/fold' });
    const path = '/uploads/u1/data';
    const chunks = Array.from({ length: 4 }, () => randomBytes(1.5 * MIB));
    await azure.putContent(path, Buffer.alloc(0));
    let expected = 0;
    for (const [index, chunk] of chunks.entries()) {
      expected += chunk.length;
      assert.equal(await append(azure, path, [chunk]), expected);
      assert.equal((await azure.stat(path)).size, expected);
      // 1.5; 1.5+1.5; then the two small ones and 1 MiB of the third chunk fold into a 4 MiB
      // block, the rest is small again; then 4, 0.5 and 1.5.
      assert.deepEqual(
        await blockSizes('fold/uploads/u1/data'),
        [[1.5 * MIB], [1.5 * MIB, 1.5 * MIB], [4 * MIB, 0.5 * MIB], [4 * MIB, 0.5 * MIB, 1.5 * MIB]][index],
        `after append ${index + 1}`,
      );
    }
    const whole = Buffer.concat(chunks);
    assert.ok((await azure.getContent(path)).equals(whole));
    for (const [start, end] of [
      [4 * MIB - 10, 4 * MIB + 9],
      [MIB, 5 * MIB],
    ] as const) {
      const range = await readAll(await azure.reader(path, { start, end }));
      assert.ok(range.equals(whole.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    await azure.delete('/uploads');
    assert.deepEqual(await names('fold/'), []);
  });

  it('continues an append on another driver instance (a restart, or another Berth)', async () => {
    const first = driver({ rootdirectory: '/resume' });
    const second = driver({ rootdirectory: '/resume' });
    const path = '/up/data';
    const a = randomBytes(5 * MIB + 3);
    const b = randomBytes(100);
    const c = randomBytes(4 * MIB);
    assert.equal(await append(first, path, [a]), a.length);
    assert.equal(await append(second, path, [b]), a.length + b.length);
    assert.equal(await append(first, path, [c.subarray(0, MIB), c.subarray(MIB)]), a.length + b.length + c.length);
    assert.ok((await second.getContent(path)).equals(Buffer.concat([a, b, c])));
    await first.delete('/up');
  });

  it('a failed append changes nothing', async () => {
    const azure = driver({ rootdirectory: '/failed' });
    const path = '/up/data';
    const kept = randomBytes(MIB);
    await append(azure, path, [kept]);
    const blocksBefore = await blockSizes('failed/up/data');
    const writer = await azure.writer(path);
    const broken = new Readable({
      read() {
        this.push(randomBytes(6 * MIB)); // one block staged, then the client goes away
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(pipeline(broken, writer), /client went away/);
    assert.equal((await azure.stat(path)).size, MIB);
    assert.deepEqual(await blockSizes('failed/up/data'), blocksBefore);
    assert.ok((await azure.getContent(path)).equals(kept));
    await azure.delete('/up');
  });

  it('of two writers racing on one file, the second to finish fails and nothing is mixed', async () => {
    const azure = driver({ rootdirectory: '/race' });
    const path = '/up/data';
    await append(azure, path, [Buffer.from('start;')]);
    const one = await azure.writer(path);
    const two = await azure.writer(path);
    one.end('one');
    await finished(one);
    two.end('two');
    await assert.rejects(finished(two), /changed while it was appended to/);
    assert.equal((await azure.getContent(path)).toString(), 'start;one');
    await azure.delete('/up');
  });

  it('appends to a blob written whole, and to a large one, by staging its content again', async () => {
    const azure = driver({ rootdirectory: '/whole' });
    await azure.putContent('/small', 'abc');
    assert.equal(await append(azure, '/small', [Buffer.from('def')]), 6);
    assert.equal((await azure.getContent('/small')).toString(), 'abcdef');
    const large = randomBytes(5 * MIB);
    await raw.getBlockBlobClient('whole/large').upload(large, large.length);
    const more = randomBytes(MIB);
    assert.equal(await append(azure, '/large', [more]), 6 * MIB);
    assert.ok((await azure.getContent('/large')).equals(Buffer.concat([large, more])));
    assert.deepEqual(await blockSizes('whole/large'), [5 * MIB, MIB], 'the old content as one block, then the new');
    await azure.delete('/small');
    await azure.delete('/large');
  });

  it('reads an append blob (as Distribution writes uploads) and refuses to append to it', async () => {
    const azure = driver({ rootdirectory: '/append' });
    const blob = raw.getAppendBlobClient('append/up/data');
    await blob.create();
    await blob.appendBlock('distribution', 12);
    assert.equal((await azure.getContent('/up/data')).toString(), 'distribution');
    assert.equal((await azure.stat('/up/data')).size, 12);
    await assert.rejects(azure.writer('/up/data'), /not a block blob/);
    await azure.move('/up/data', '/blobs/data');
    assert.equal((await azure.getContent('/blobs/data')).toString(), 'distribution');
    await azure.delete('/blobs');
  });

  it('move copies server-side and removes the source', async () => {
    const azure = driver({ rootdirectory: '/move' });
    const parts = [randomBytes(5 * MIB), randomBytes(123)];
    for (const part of parts) await append(azure, '/up/data', [part]);
    await azure.move('/up/data', '/blobs/data');
    assert.ok((await azure.getContent('/blobs/data')).equals(Buffer.concat(parts)));
    await assert.rejects(azure.stat('/up/data'), PathNotFoundError);
    assert.deepEqual(await names('move/'), ['move/blobs/data']);
    await azure.delete('/blobs');
  });

  it('signs download URLs (SAS) that serve the blob, ranges included', async () => {
    const azure = driver({ rootdirectory: '/sas' });
    const content = randomBytes(1000);
    await azure.putContent('/blob/data', content);
    const url = await azure.redirectURL('/blob/data', 'GET');
    assert.ok(url?.startsWith(`${azurite.serviceUrl}/${container}/sas/blob/data?`), url);
    const whole = await fetch(url!);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(content));
    const ranged = await fetch(url!, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(content.subarray(10, 20)));
    const head = await fetch((await azure.redirectURL('/blob/data', 'HEAD'))!, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '1000');
    const unsigned = await fetch(url!.slice(0, url!.indexOf('?')));
    assert.notEqual(unsigned.status, 200, 'the container is not readable without the signature');
    assert.equal(
      await driver({}, false).redirectURL('/sas/blob/data', 'GET'),
      undefined,
      'storage.redirect.disable turns it off',
    );
    await azure.delete('/blob');
  });

  it('ping fails for a missing container or a wrong key, naming the cause', async () => {
    await driver().ping();
    const { config } = validateConfig({ storage: { azure: azurite.azureConfig('no-such-container') } });
    await assert.rejects(new AzureDriver(config.storage.azure!).ping(), /ContainerNotFound|does not exist/);
    const wrongKey = validateConfig({
      storage: { azure: azurite.azureConfig(container, { accountkey: Buffer.from('wrong').toString('base64') }) },
    }).config;
    await assert.rejects(
      new AzureDriver(wrongKey.storage.azure!).ping(),
      /AuthorizationFailure|Server failed to authenticate/,
    );
  });

  it('takes its settings from a connection string', async () => {
    const connectionstring = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${String(
      azurite.azureConfig(container).accountkey,
    )};BlobEndpoint=${azurite.serviceUrl};`;
    const { config } = validateConfig({ storage: { azure: { container, connectionstring, rootdirectory: '/cs' } } });
    const azure = new AzureDriver(config.storage.azure!);
    await azure.putContent('/file', 'via connection string');
    assert.equal((await raw.getBlobClient('cs/file').downloadToBuffer()).toString(), 'via connection string');
    assert.ok((await azure.redirectURL('/file', 'GET'))?.includes('sig='));
    await azure.delete('/file');
  });
});

describe('Azure driver on a full Azurite', () => {
  it("reports the emulator's full memory as storage full (507 at the HTTP layer)", async () => {
    const azurite = await startAzurite({ inMemory: true, memoryLimitMiB: 1 });
    try {
      const container = await azurite.createContainer();
      const { config } = validateConfig({ storage: { azure: azurite.azureConfig(container) } });
      const azure = new AzureDriver(config.storage.azure!);
      const error = await azure.putContent('/big', randomBytes(2 * MIB)).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      assert.match(storageFullCause(error) ?? '', /MemoryExtentStoreAtSizeLimit/);
    } finally {
      await azurite.stop();
    }
  });
});

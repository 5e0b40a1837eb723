/**
 * What the S3 driver does beyond the common contract, checked on Ceph's radosgw and in the bucket
 * itself: Distribution's key layout under `rootdirectory`, appends kept as pieces (small chunks
 * folded into parts of at least 5 MiB, resumable from another driver instance, a failed append
 * leaving nothing), finishing with a server-side assembly, presigned URLs and the part-size plan.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { validateConfig } from '../../src/config/load.js';
import { PathNotFoundError } from '../../src/storage/driver.js';
import { S3Driver } from '../../src/storage/s3/driver.js';
import type { S3Settings } from '../../src/storage/s3/client.js';
import { planParts, ServerSideCopy } from '../../src/storage/s3/copy.js';
import { capacity, pieceSize, PIECES_PER_TIER } from '../../src/storage/s3/pieces.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { describeWithTools } from '../helpers/tools.js';
import { append, readAll } from '../helpers/driver-io.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe('S3 part-size plan (no server)', () => {
  it('fits a 100 GiB layer in S3’s 10,000 parts with the default and the smallest chunk size', () => {
    for (const chunk of [10 * MIB, 5 * MIB]) {
      assert.ok(capacity(chunk) >= 100 * GIB, `chunksize ${chunk}: capacity ${capacity(chunk)}`);
      let total = 0;
      let index = 0;
      while (total < 100 * GIB) total += pieceSize(index++, chunk);
      assert.ok(index <= 10_000, `${index} pieces`);
      assert.ok(pieceSize(index - 1, chunk) <= 40 * MIB, 'the largest piece held in memory for 100 GiB is 40 MiB');
    }
    assert.equal(pieceSize(0, 10 * MIB), 10 * MIB);
    assert.equal(pieceSize(PIECES_PER_TIER, 10 * MIB), 20 * MIB);
  });

  it('plans server-side copy parts of 5 MiB to 5 GiB, in order, at most 10,000', () => {
    const cases = [
      [
        { key: 'a', size: 12 * MIB },
        { key: 'b', size: 6 * MIB },
        { key: 'c', size: 1 },
      ],
      [{ key: 'big', size: 20 * GIB }],
      [{ key: 'odd', size: 33 * MIB }],
      Array.from({ length: 9_000 }, (_, index) => ({ key: `p${index}`, size: 40 * MIB })),
    ];
    for (const sources of cases) {
      const parts = planParts(sources, 32 * MIB);
      assert.ok(parts.length <= 10_000);
      parts.forEach((part, index) => {
        const length = part.end - part.start + 1;
        assert.ok(length <= 5 * GIB);
        if (index < parts.length - 1) assert.ok(length >= 5 * MIB, `part ${index} is ${length} bytes`);
      });
      for (const source of sources) {
        const own = parts.filter((part) => part.key === source.key);
        assert.equal(own[0]!.start, 0);
        for (let index = 1; index < own.length; index++) assert.equal(own[index]!.start, own[index - 1]!.end + 1);
        assert.equal(own[own.length - 1]!.end, source.size - 1);
      }
    }
  });

  it('a multipart copy whose part fails is aborted only once the parts in flight have settled', async () => {
    const events: string[] = [];
    const send = async (command: object): Promise<unknown> => {
      const name = command.constructor.name;
      const input = (command as { input: { PartNumber?: number } }).input;
      if (name === 'CreateMultipartUploadCommand') return { UploadId: 'u1' };
      if (name === 'UploadPartCopyCommand') {
        events.push(`part ${input.PartNumber} started`);
        if (input.PartNumber === 1) throw Object.assign(new Error('quota'), { name: 'QuotaExceeded' });
        await new Promise((resolve) => setTimeout(resolve, 50));
        events.push(`part ${input.PartNumber} settled`);
        return { CopyPartResult: { ETag: '"e"' } };
      }
      events.push(name);
      return {};
    };
    const copier = new ServerSideCopy({
      client: { send } as unknown as S3Client,
      bucket: 'b',
      objectOptions: {},
      copyChunkSize: 5 * MIB,
      copyThreshold: 5 * MIB,
      copyConcurrency: 4,
    } as unknown as S3Settings);
    await assert.rejects(
      copier.concatenate(
        [
          { key: 'a', size: 5 * MIB },
          { key: 'b', size: 5 * MIB },
          { key: 'c', size: 1 },
        ],
        'dest',
      ),
      { name: 'QuotaExceeded' },
    );
    assert.deepEqual(events, [
      'part 1 started',
      'part 2 started',
      'part 3 started',
      'part 2 settled',
      'part 3 settled',
      'AbortMultipartUploadCommand',
    ]);
  });
});

describeWithTools('S3 driver on Ceph', cephTools(), () => {
  let ceph: CephCluster;
  let bucket: string;
  let raw: S3Client;
  const drivers: S3Driver[] = [];

  function driver(extra: Record<string, unknown> = {}): S3Driver {
    const { config } = validateConfig({ storage: { s3: ceph.s3Config(bucket, { chunksize: 5 * MIB, ...extra }) } });
    const made = new S3Driver(config.storage.s3!);
    drivers.push(made);
    return made;
  }

  /** Sizes of the pieces of an appendable file, in order. */
  async function pieceSizes(prefix: string): Promise<number[]> {
    const output = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (output.Contents ?? []).sort((a, b) => (a.Key! < b.Key! ? -1 : 1)).map((object) => object.Size!);
  }

  async function keys(prefix: string): Promise<string[]> {
    const output = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (output.Contents ?? []).map((object) => object.Key!).sort();
  }

  before(async () => {
    ceph = await startCeph();
    bucket = await ceph.createBucket();
    raw = new S3Client({
      region: ceph.region,
      endpoint: ceph.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    });
  });

  after(async () => {
    raw?.destroy();
    await Promise.all(drivers.map((made) => made.close()));
    await ceph?.stop();
  });

  it('stores paths under rootdirectory exactly as Distribution names its keys', async () => {
    const s3 = driver({ rootdirectory: '/registry/' });
    await s3.putContent('/docker/registry/v2/repositories/a/_layers/sha256/ab/link', 'sha256:ab');
    assert.deepEqual(
      await keys('registry/'),
      ['registry/docker/registry/v2/repositories/a/_layers/sha256/ab/link', 'registry/~berth/catalog/repositories/a'],
      'the link, and the repository index entry beside the tree',
    );
    const bare = driver();
    await bare.putContent('/docker/registry/v2/blobs/x', 'x');
    assert.deepEqual(await keys('docker/'), ['docker/registry/v2/blobs/x']);
  });

  it('keeps small appends as small pieces and folds them into a part once they reach 5 MiB', async () => {
    const s3 = driver({ rootdirectory: '/fold' });
    const path = '/uploads/u1/data';
    const chunks = Array.from({ length: 4 }, () => randomBytes(2 * MIB));
    await s3.putContent(path, Buffer.alloc(0));
    let expected = 0;
    for (const [index, chunk] of chunks.entries()) {
      expected += chunk.length;
      assert.equal(await append(s3, path, [chunk]), expected);
      assert.equal((await s3.stat(path)).size, expected);
      // 2 MiB; 2+2; then the two small ones and 1 MiB of the third chunk fold into a 5 MiB part,
      // the rest is small again; then 5 MiB, 1 MiB and 2 MiB.
      const sizes = await pieceSizes('fold/uploads/u1/data~pieces/');
      assert.deepEqual(
        sizes,
        [[2 * MIB], [2 * MIB, 2 * MIB], [5 * MIB, MIB], [5 * MIB, MIB, 2 * MIB]][index],
        `after append ${index + 1}`,
      );
    }
    const whole = Buffer.concat(chunks);
    assert.ok((await s3.getContent(path)).equals(whole));
    // Ranges that cross from the folded piece into the small ones.
    for (const [start, end] of [
      [5 * MIB - 10, 5 * MIB + 9],
      [MIB, 7 * MIB],
    ] as const) {
      const range = await readAll(await s3.reader(path, { start, end }));
      assert.ok(range.equals(whole.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    assert.deepEqual(await s3.list('/uploads/u1'), ['data'], 'pieces are not listed');
    await s3.delete('/uploads');
    assert.deepEqual(await keys('fold/'), [], 'deleting the folder removes the pieces too');
  });

  it('continues an append on another driver instance (a restart, or another Berth)', async () => {
    const first = driver({ rootdirectory: '/resume' });
    const second = driver({ rootdirectory: '/resume' });
    const path = '/up/data';
    const a = randomBytes(7 * MIB + 3);
    const b = randomBytes(100);
    const c = randomBytes(5 * MIB);
    assert.equal(await append(first, path, [a]), a.length);
    assert.equal(await append(second, path, [b]), a.length + b.length);
    assert.equal(await append(first, path, [c.subarray(0, MIB), c.subarray(MIB)]), a.length + b.length + c.length);
    assert.ok((await second.getContent(path)).equals(Buffer.concat([a, b, c])));
    await first.delete('/up');
  });

  it('a failed append changes nothing and leaves no piece behind', async () => {
    const s3 = driver({ rootdirectory: '/failed' });
    const path = '/up/data';
    await append(s3, path, [randomBytes(MIB)]);
    const before = await keys('failed/');
    const writer = await s3.writer(path);
    const broken = new Readable({
      read() {
        this.push(randomBytes(6 * MIB));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(pipeline(broken, writer), /client went away/);
    // pipeline() rejects as soon as the source fails, while the writer may still be storing a
    // piece; the writer has removed what it stored once it has closed (the registry waits for it).
    if (!writer.closed) await new Promise((resolve) => writer.once('close', resolve));
    assert.equal((await s3.stat(path)).size, MIB);
    assert.deepEqual(await keys('failed/'), before);
    await s3.delete('/up');
  });

  it('move assembles the pieces into one plain object server-side and removes them', async () => {
    const s3 = driver({ rootdirectory: '/move', multipartcopythresholdsize: 5 * MIB, multipartcopychunksize: 5 * MIB });
    const path = '/up/data';
    const parts = [randomBytes(6 * MIB), randomBytes(6 * MIB), randomBytes(123)];
    for (const part of parts) await append(s3, path, [part]);
    await s3.move(path, '/blobs/data');
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'move/blobs/data' }));
    assert.equal(head.ContentLength, 12 * MIB + 123);
    assert.deepEqual(head.Metadata ?? {}, {}, 'the blob is a plain object');
    assert.ok((await s3.getContent('/blobs/data')).equals(Buffer.concat(parts)));
    assert.deepEqual(await keys('move/up'), [], 'the upload and its pieces are gone');
    // A plain object above the copy threshold is copied in ranged parts.
    await s3.move('/blobs/data', '/blobs/moved');
    assert.equal(
      createHash('sha256')
        .update(await s3.getContent('/blobs/moved'))
        .digest('hex'),
      createHash('sha256').update(Buffer.concat(parts)).digest('hex'),
    );
    await assert.rejects(s3.stat('/blobs/data'), PathNotFoundError);
    await s3.delete('/blobs');
  });

  it('presigns download URLs that serve the object, ranges included', async () => {
    const s3 = driver({ rootdirectory: '/presign' });
    const content = randomBytes(1000);
    await s3.putContent('/blob/data', content);
    const url = await s3.redirectURL('/blob/data', 'GET');
    assert.ok(url?.startsWith(`${ceph.endpoint}/${bucket}/presign/blob/data?`), url);
    const whole = await fetch(url!);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(content));
    const ranged = await fetch(url!, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(content.subarray(10, 20)));
    const head = await fetch((await s3.redirectURL('/blob/data', 'HEAD'))!, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '1000');
    const off = new S3Driver(validateConfig({ storage: { s3: ceph.s3Config(bucket) } }).config.storage.s3!, {
      redirect: false,
    });
    drivers.push(off);
    assert.equal(
      await off.redirectURL('/presign/blob/data', 'GET'),
      undefined,
      'storage.redirect.disable turns it off',
    );
  });

  it('a writer whose stream ends without data keeps a plain empty file plain', async () => {
    const s3 = driver({ rootdirectory: '/empty' });
    await s3.putContent('/f', Buffer.alloc(0));
    const writer = await s3.writer('/f');
    writer.end();
    await finished(writer);
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'empty/f' }));
    assert.deepEqual(head.Metadata ?? {}, {});
    assert.equal(head.ContentLength, 0);
  });
});

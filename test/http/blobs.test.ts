/** `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (end-2, end-10), ranges and conditional requests. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushBlob, pushImage, randomBlob, type Blob } from '../helpers/content.js';
import { blobDataPath } from '../helpers/files.js';
import { assertError, client, generatedStream, type Api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const UNKNOWN = `sha256:${'0'.repeat(64)}`;

/** Files this process holds open (the server runs in it). */
function openFiles(): number {
  return readdirSync('/proc/self/fd').length;
}

/** sha256 of bytes `start`…`end` (inclusive) of generatedStream(size, seed), streamed. */
async function generatedDigest(size: number, seed: number, start = 0, end = size - 1): Promise<string> {
  const hash = createHash('sha256');
  let offset = 0;
  for await (const piece of generatedStream(size, seed).stream) {
    const chunk = piece as Buffer;
    const from = Math.max(start - offset, 0);
    const to = Math.min(end + 1 - offset, chunk.length);
    if (from < to) hash.update(chunk.subarray(from, to));
    offset += chunk.length;
  }
  return `sha256:${hash.digest('hex')}`;
}

interface Download {
  status: number;
  digest: string;
  size: number;
  contentLength: string | undefined;
}

/** GETs a path, hashing the body as it arrives; with `abortAfter`, drops the connection after that many bytes. */
function download(
  base: string,
  path: string,
  range?: string,
  options: { abortAfter?: number } = {},
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      new URL(path, base),
      { agent: false, headers: range ? { Range: range } : {} },
      (response) => {
        const hash = createHash('sha256');
        let size = 0;
        const result = () => ({
          status: response.statusCode ?? 0,
          digest: `sha256:${hash.digest('hex')}`,
          size,
          contentLength: response.headers['content-length'],
        });
        response.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          if (options.abortAfter !== undefined && size >= options.abortAfter) {
            request.destroy();
            resolve(result());
          }
        });
        response.on('error', (error) => (options.abortAfter === undefined ? reject(error) : undefined));
        response.on('end', () => resolve(result()));
      },
    );
    request.on('error', (error) => (options.abortAfter === undefined ? reject(error) : undefined));
    request.end();
  });
}

describe('blobs', () => {
  let server: TestBerth;
  let api: Api;
  let blob: Blob;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
    blob = randomBlob(1000);
    await pushBlob(server.url, 'library/blobs', blob);
  });
  after(() => server.close());

  describe('GET and HEAD', () => {
    it('serves the bytes with digest, length, type and ETag', async () => {
      const reply = await api('GET', `/v2/library/blobs/blobs/${blob.digest}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.equal(reply.header('content-length'), '1000');
      assert.equal(reply.header('content-type'), 'application/octet-stream');
      assert.equal(reply.header('etag'), `"${blob.digest}"`);
      assert.equal(reply.header('accept-ranges'), 'bytes');
      assert.deepEqual(reply.body, blob.content);
    });

    it('answers HEAD with the same headers and no body', async () => {
      const reply = await api('HEAD', `/v2/library/blobs/blobs/${blob.digest}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.equal(reply.header('content-length'), '1000');
      assert.equal(reply.header('content-type'), 'application/octet-stream');
      assert.equal(reply.header('etag'), `"${blob.digest}"`);
      assert.equal(reply.body.length, 0);
    });

    it('answers 304 to If-None-Match with the ETag, quoted, bare or in a list', async () => {
      for (const value of [`"${blob.digest}"`, blob.digest, `W/"x", "${blob.digest}"`, '*']) {
        const reply = await api('GET', `/v2/library/blobs/blobs/${blob.digest}`, {
          headers: { 'If-None-Match': value },
        });
        assert.equal(reply.status, 304, value);
        assert.equal(reply.header('etag'), `"${blob.digest}"`);
        assert.equal(reply.body.length, 0);
      }
      const other = await api('GET', `/v2/library/blobs/blobs/${blob.digest}`, {
        headers: { 'If-None-Match': `"${UNKNOWN}"` },
      });
      assert.equal(other.status, 200);
      assert.deepEqual(other.body, blob.content);
    });

    it('serves an empty blob', async () => {
      const empty = {
        digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        content: Buffer.alloc(0),
      };
      await pushBlob(server.url, 'library/blobs', empty);
      const reply = await api('GET', `/v2/library/blobs/blobs/${empty.digest}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.header('content-length'), '0');
      assert.equal(reply.header('docker-content-digest'), empty.digest);
      assert.equal(reply.body.length, 0);
    });

    it('serves a manifest through the blobs endpoint of its repository', async () => {
      const image = makeImage({ layers: 1 });
      await pushImage(server.url, 'library/blobs', 'image', image);
      const reply = await api('GET', `/v2/library/blobs/blobs/${image.digest}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.header('docker-content-digest'), image.digest);
      assert.deepEqual(reply.body, image.manifest);
    });
  });

  describe('Range', () => {
    const get = (range: string, method = 'GET') =>
      api(method, `/v2/library/blobs/blobs/${blob.digest}`, { headers: { Range: range } });

    it('serves bytes=a-b as 206 with Content-Range', async () => {
      const reply = await get('bytes=10-19');
      assert.equal(reply.status, 206);
      assert.equal(reply.header('content-range'), 'bytes 10-19/1000');
      assert.equal(reply.header('content-length'), '10');
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.deepEqual(reply.body, blob.content.subarray(10, 20));
    });

    it('serves a single byte (bytes=0-0)', async () => {
      const reply = await get('bytes=0-0');
      assert.equal(reply.status, 206);
      assert.equal(reply.header('content-range'), 'bytes 0-0/1000');
      assert.deepEqual(reply.body, blob.content.subarray(0, 1));
    });

    it('serves an open range bytes=a-', async () => {
      const reply = await get('bytes=990-');
      assert.equal(reply.status, 206);
      assert.equal(reply.header('content-range'), 'bytes 990-999/1000');
      assert.equal(reply.header('content-length'), '10');
      assert.deepEqual(reply.body, blob.content.subarray(990));
    });

    it('serves a suffix range bytes=-n', async () => {
      const reply = await get('bytes=-7');
      assert.equal(reply.status, 206);
      assert.equal(reply.header('content-range'), 'bytes 993-999/1000');
      assert.deepEqual(reply.body, blob.content.subarray(993));
    });

    it('clamps a range or suffix longer than the blob to the blob', async () => {
      const long = await get('bytes=900-5000');
      assert.equal(long.status, 206);
      assert.equal(long.header('content-range'), 'bytes 900-999/1000');
      assert.deepEqual(long.body, blob.content.subarray(900));
      const suffix = await get('bytes=-5000');
      assert.equal(suffix.status, 206);
      assert.equal(suffix.header('content-range'), 'bytes 0-999/1000');
      assert.deepEqual(suffix.body, blob.content);
    });

    it('answers HEAD with a range with the partial headers and no body', async () => {
      const reply = await get('bytes=0-99', 'HEAD');
      assert.equal(reply.status, 206);
      assert.equal(reply.header('content-range'), 'bytes 0-99/1000');
      assert.equal(reply.header('content-length'), '100');
      assert.equal(reply.body.length, 0);
    });

    it('answers 416 with Content-Range bytes */size and no body to an unsatisfiable or inverted range', async () => {
      for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=20-10', 'bytes=500-0']) {
        const reply = await get(range);
        assert.equal(reply.status, 416, range);
        assert.equal(reply.header('content-range'), 'bytes */1000', range);
        assert.equal(reply.header('content-length'), '0', range);
        assert.equal(reply.body.length, 0, range);
      }
    });

    it('ignores ranges it does not serve and sends the whole blob', async () => {
      for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=-', 'nonsense']) {
        const reply = await get(range);
        assert.equal(reply.status, 200, range);
        assert.equal(reply.header('content-range'), undefined, range);
        assert.deepEqual(reply.body, blob.content, range);
      }
    });
  });

  describe('blobs larger than one read piece (1 MiB)', () => {
    // 9 MiB and a few bytes: nine whole pieces, whose buffers are reused, and a short last one.
    const size = 9 * 1024 * 1024 + 5;
    const seed = 31;
    let digest: string;
    let path: string;
    before(async () => {
      digest = await generatedDigest(size, seed);
      const start = await api('POST', '/v2/library/large/blobs/uploads/');
      const location = new URL(start.header('location')!, server.url);
      location.searchParams.set('digest', digest);
      const put = await api('PUT', `${location.pathname}${location.search}`, {
        body: generatedStream(size, seed).stream,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(put.status, 201, put.text());
      path = `/v2/library/large/blobs/${digest}`;
    });

    it('serves concurrent downloads byte-identical', async () => {
      const downloads = await Promise.all(Array.from({ length: 6 }, () => download(server.url, path)));
      for (const result of downloads)
        assert.deepEqual(result, { status: 200, digest, size, contentLength: String(size) });
    });

    it('serves ranges that cross piece boundaries byte-identical', async () => {
      const ranges: Array<[number, number]> = [
        [1024 * 1024 - 3, 3 * 1024 * 1024 + 2],
        [5, size - 1],
        [size - 10, size - 1],
      ];
      for (const [start, end] of ranges) {
        const result = await download(server.url, path, `bytes=${start}-${end}`);
        assert.deepEqual(
          result,
          {
            status: 206,
            digest: await generatedDigest(size, seed, start, end),
            size: end - start + 1,
            contentLength: String(end - start + 1),
          },
          `bytes=${start}-${end}`,
        );
      }
    });

    it('closes the blob file when the client goes away mid-download', async () => {
      const before = openFiles();
      for (let round = 0; round < 5; round++) await download(server.url, path, undefined, { abortAfter: 64 * 1024 });
      // The server notices each reset on its next write.
      await waitFor(() => openFiles() <= before, `open files back to the ${before} before the downloads`);
      assert.equal((await download(server.url, path)).digest, digest);
    });
  });

  describe('errors', () => {
    it('answers 404 BLOB_UNKNOWN for a blob the registry does not have', async () => {
      assertError(await api('GET', `/v2/library/blobs/blobs/${UNKNOWN}`), 404, 'BLOB_UNKNOWN');
      const head = await api('HEAD', `/v2/library/blobs/blobs/${UNKNOWN}`);
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0);
    });

    it('answers 404 for a blob stored by another repository but not linked in this one', async () => {
      const reply = await api('GET', `/v2/library/other/blobs/${blob.digest}`);
      assertError(reply, 404, 'BLOB_UNKNOWN');
      assert.equal((await api('HEAD', `/v2/library/other/blobs/${blob.digest}`)).status, 404);
    });

    it('answers 400 DIGEST_INVALID for digests that are not digests', async () => {
      for (const digest of [
        'notadigest',
        'sha256:abc',
        `sha256:${'G'.repeat(64)}`,
        `md5:${'0'.repeat(32)}`,
        `sha256:${'A'.repeat(64)}`,
      ]) {
        assertError(await api('GET', `/v2/library/blobs/blobs/${digest}`), 400, 'DIGEST_INVALID', digest);
        assertError(await api('DELETE', `/v2/library/blobs/blobs/${digest}`), 400, 'DIGEST_INVALID', digest);
      }
    });
  });

  describe('DELETE', () => {
    it('answers 202, then the blob is gone from the repository and the bytes stay for GC', async () => {
      const doomed = randomBlob(100);
      await pushBlob(server.url, 'library/deletes', doomed);
      await pushBlob(server.url, 'library/keeps', doomed);
      const reply = await api('DELETE', `/v2/library/deletes/blobs/${doomed.digest}`);
      assert.equal(reply.status, 202);
      assert.equal(reply.header('docker-content-digest'), doomed.digest);
      assert.equal(reply.header('content-length'), '0');
      assertError(await api('GET', `/v2/library/deletes/blobs/${doomed.digest}`), 404, 'BLOB_UNKNOWN');
      assertError(await api('DELETE', `/v2/library/deletes/blobs/${doomed.digest}`), 404, 'BLOB_UNKNOWN');
      // Another repository linking the same content still serves it.
      const kept = await api('GET', `/v2/library/keeps/blobs/${doomed.digest}`);
      assert.equal(kept.status, 200);
      assert.deepEqual(kept.body, doomed.content);
      assert.ok(existsSync(blobDataPath(server.root, doomed.digest)));
    });

    it('answers 404 BLOB_UNKNOWN when deleting a blob the repository never had', async () => {
      assertError(await api('DELETE', `/v2/library/blobs/blobs/${UNKNOWN}`), 404, 'BLOB_UNKNOWN');
    });
  });
});

describe('blob deletion disabled', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { storage: { delete: { enabled: false } } } })));
  after(() => server.close());

  it('answers 405 UNSUPPORTED and keeps the blob', async () => {
    const api = client(server.url);
    const blob = randomBlob(64);
    await pushBlob(server.url, 'library/kept', blob);
    assertError(await api('DELETE', `/v2/library/kept/blobs/${blob.digest}`), 405, 'UNSUPPORTED');
    assert.equal((await api('GET', `/v2/library/kept/blobs/${blob.digest}`)).status, 200);
  });
});

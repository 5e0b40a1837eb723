/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (end-4a, end-4b, end-4c, end-11) and
 * `<blob-push-location>` (end-5, end-6, end-13, end-14), including resumption after a restart
 * and concurrent pushes of the same content.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { pushBlob, randomBlob, sha256, sha512 } from '../helpers/content.js';
import { blobDataPath, repositoryPath, storedBlobDigests } from '../helpers/files.js';
import { assertError, client, digestOfDownload, generatedStream, type Api, type HttpReply } from '../helpers/http.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OCTETS = { 'Content-Type': 'application/octet-stream' };

/** The path and query of an absolute Location, which is what the next request is sent to. */
function pathOf(location: string | undefined): string {
  assert.ok(location, 'Location header');
  const url = new URL(location);
  return `${url.pathname}${url.search}`;
}

function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

interface Session {
  uuid: string;
  path: string;
}

async function startUpload(api: Api, name: string, query = ''): Promise<Session> {
  const reply = await api('POST', `/v2/${name}/blobs/uploads/${query}`, { headers: { 'Content-Length': 0 } });
  assert.equal(reply.status, 202, reply.text());
  return { uuid: reply.header('docker-upload-uuid')!, path: pathOf(reply.header('location')) };
}

function patch(api: Api, path: string, chunk: Buffer, start: number): Promise<HttpReply> {
  return api('PATCH', path, {
    body: chunk,
    headers: { ...OCTETS, 'Content-Range': `${start}-${start + chunk.length - 1}` },
  });
}

describe('uploads', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
  });
  after(() => server.close());

  describe('monolithic', () => {
    it('POST then PUT: 202 with Location, Docker-Upload-UUID and Range, then 201 with the blob Location', async () => {
      const blob = randomBlob(3000);
      const start = await api('POST', '/v2/library/mono/blobs/uploads/', { headers: { 'Content-Length': 0 } });
      assert.equal(start.status, 202);
      const uuid = start.header('docker-upload-uuid')!;
      assert.match(uuid, UUID);
      assert.equal(start.header('location'), `${server.url}/v2/library/mono/blobs/uploads/${uuid}`);
      assert.equal(start.header('range'), '0-0');
      assert.equal(start.header('content-length'), '0');

      const put = await api('PUT', withDigest(pathOf(start.header('location')), blob.digest), {
        body: blob.content,
        headers: OCTETS,
      });
      assert.equal(put.status, 201, put.text());
      assert.equal(put.header('location'), `${server.url}/v2/library/mono/blobs/${blob.digest}`);
      assert.equal(put.header('docker-content-digest'), blob.digest);
      assert.equal(put.header('content-length'), '0');

      const pulled = await api('GET', pathOf(put.header('location')));
      assert.equal(pulled.status, 200);
      assert.deepEqual(pulled.body, blob.content);
      assertError(await api('GET', `/v2/library/mono/blobs/uploads/${uuid}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.ok(
        !existsSync(join(repositoryPath(server.root, 'library/mono'), '_uploads', uuid)),
        'upload folder removed',
      );
    });

    it('single POST with ?digest= answers 201 with Location and Docker-Content-Digest', async () => {
      const blob = randomBlob(2000);
      const reply = await api('POST', `/v2/library/mono/blobs/uploads/?digest=${blob.digest}`, {
        body: blob.content,
        headers: OCTETS,
      });
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header('location'), `${server.url}/v2/library/mono/blobs/${blob.digest}`);
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.deepEqual((await api('GET', `/v2/library/mono/blobs/${blob.digest}`)).body, blob.content);
    });

    it('single POST with ?digest= takes a chunked body too', async () => {
      const blob = randomBlob(5000);
      const reply = await api('POST', `/v2/library/mono/blobs/uploads/?digest=${blob.digest}`, {
        body: blob.content,
        chunked: true,
      });
      assert.equal(reply.status, 201, reply.text());
      assert.deepEqual((await api('GET', `/v2/library/mono/blobs/${blob.digest}`)).body, blob.content);
    });

    it('POST without a digest ignores a body and opens an empty session', async () => {
      const reply = await api('POST', '/v2/library/mono/blobs/uploads/', { body: Buffer.from('ignored') });
      assert.equal(reply.status, 202);
      assert.equal(reply.header('range'), '0-0');
      const status = await api('GET', pathOf(reply.header('location')));
      assert.equal(status.status, 204);
      assert.equal(status.header('range'), '0-0');
    });
  });

  describe('chunked', () => {
    it('PATCH with Content-Range answers 202 with Range 0-<end> after each chunk; PUT closes', async () => {
      const blob = randomBlob(3000);
      const session = await startUpload(api, 'library/chunks');
      let path = session.path;
      for (const [start, end] of [
        [0, 999],
        [1000, 1999],
        [2000, 2999],
      ] as const) {
        const reply = await patch(api, path, blob.content.subarray(start, end + 1), start);
        assert.equal(reply.status, 202, reply.text());
        assert.equal(reply.header('range'), `0-${end}`);
        assert.equal(reply.header('docker-upload-uuid'), session.uuid);
        assert.equal(reply.header('location'), `${server.url}/v2/library/chunks/blobs/uploads/${session.uuid}`);
        assert.equal(reply.header('content-length'), '0');
        path = pathOf(reply.header('location'));
      }
      const put = await api('PUT', withDigest(path, blob.digest), { headers: { 'Content-Length': 0 } });
      assert.equal(put.status, 201, put.text());
      assert.equal(put.header('docker-content-digest'), blob.digest);
      assert.deepEqual((await api('GET', `/v2/library/chunks/blobs/${blob.digest}`)).body, blob.content);
    });

    it('PATCH without Content-Range appends', async () => {
      const blob = randomBlob(200);
      const session = await startUpload(api, 'library/chunks');
      const first = await api('PATCH', session.path, { body: blob.content.subarray(0, 150), headers: OCTETS });
      assert.equal(first.status, 202);
      assert.equal(first.header('range'), '0-149');
      const second = await api('PATCH', session.path, { body: blob.content.subarray(150), headers: OCTETS });
      assert.equal(second.header('range'), '0-199');
      assert.equal((await api('PUT', withDigest(session.path, blob.digest))).status, 201);
    });

    it('refuses an out-of-order chunk with 416 and the current Range, and the upload continues', async () => {
      const blob = randomBlob(300);
      const session = await startUpload(api, 'library/chunks');
      assert.equal((await patch(api, session.path, blob.content.subarray(0, 100), 0)).status, 202);

      const gap = await patch(api, session.path, blob.content.subarray(200, 300), 200);
      assertError(gap, 416, 'BLOB_UPLOAD_INVALID', 'gap');
      assert.equal(gap.header('range'), '0-99');
      const repeat = await patch(api, session.path, blob.content.subarray(0, 100), 0);
      assertError(repeat, 416, 'BLOB_UPLOAD_INVALID', 'repeat');

      const status = await api('GET', session.path);
      assert.equal(status.status, 204);
      assert.equal(status.header('range'), '0-99');

      assert.equal((await patch(api, session.path, blob.content.subarray(100, 200), 100)).header('range'), '0-199');
      // The final chunk out of order in the closing PUT is refused the same way.
      const badClose = await api('PUT', withDigest(session.path, blob.digest), {
        body: blob.content.subarray(250),
        headers: { ...OCTETS, 'Content-Range': '250-299' },
      });
      assertError(badClose, 416, 'BLOB_UPLOAD_INVALID', 'closing PUT');
      const close = await api('PUT', withDigest(session.path, blob.digest), {
        body: blob.content.subarray(200),
        headers: { ...OCTETS, 'Content-Range': '200-299' },
      });
      assert.equal(close.status, 201, close.text());
      assert.deepEqual((await api('GET', `/v2/library/chunks/blobs/${blob.digest}`)).body, blob.content);
    });

    it('refuses a malformed Content-Range with 400 BLOB_UPLOAD_INVALID', async () => {
      const session = await startUpload(api, 'library/chunks');
      for (const range of ['bytes 0-9/10', '0-', '5-2', 'a-b']) {
        const reply = await api('PATCH', session.path, { body: Buffer.alloc(10), headers: { 'Content-Range': range } });
        assertError(reply, 400, 'BLOB_UPLOAD_INVALID', range);
      }
      assert.equal((await api('GET', session.path)).header('range'), '0-0');
    });

    it('refuses a Content-Range that disagrees with Content-Length with 400 SIZE_INVALID', async () => {
      const session = await startUpload(api, 'library/chunks');
      const reply = await api('PATCH', session.path, { body: Buffer.alloc(10), headers: { 'Content-Range': '0-19' } });
      assertError(reply, 400, 'SIZE_INVALID');
      assert.equal((await api('GET', session.path)).header('range'), '0-0');
    });

    it('streams a PATCH sent with chunked transfer encoding and no Content-Length', async () => {
      const size = 3 * 1024 * 1024 + 17;
      const { stream, digest } = generatedStream(size, 7);
      const session = await startUpload(api, 'library/stream');
      const reply = await api('PATCH', session.path, { body: stream, headers: OCTETS });
      assert.equal(reply.status, 202, reply.text());
      assert.equal(reply.header('range'), `0-${size - 1}`);
      const put = await api('PUT', withDigest(session.path, await digest));
      assert.equal(put.status, 201, put.text());
      const pulled = await digestOfDownload(server.url, `/v2/library/stream/blobs/${await digest}`);
      assert.deepEqual(pulled, { status: 200, digest: await digest, size });
    });

    it('takes the final chunk in the closing PUT', async () => {
      const blob = randomBlob(500);
      const session = await startUpload(api, 'library/chunks');
      await patch(api, session.path, blob.content.subarray(0, 400), 0);
      const put = await api('PUT', withDigest(session.path, blob.digest), {
        body: blob.content.subarray(400),
        headers: { ...OCTETS, 'Content-Range': '400-499' },
      });
      assert.equal(put.status, 201, put.text());
      assert.deepEqual((await api('GET', `/v2/library/chunks/blobs/${blob.digest}`)).body, blob.content);
    });

    it('serialises two PATCHes racing for the same range: one lands, the other gets 416', async () => {
      const blob = randomBlob(4096);
      const session = await startUpload(api, 'library/chunks');
      const replies = await Promise.all([
        patch(api, session.path, blob.content, 0),
        patch(api, session.path, blob.content, 0),
      ]);
      assert.deepEqual(replies.map((reply) => reply.status).sort(), [202, 416]);
      assert.equal((await api('GET', session.path)).header('range'), '0-4095');
      assert.equal((await api('PUT', withDigest(session.path, blob.digest))).status, 201);
    });
  });

  describe('status and cancel', () => {
    it('GET answers 204 with Location, Range and Docker-Upload-UUID', async () => {
      const session = await startUpload(api, 'library/status');
      const empty = await api('GET', session.path);
      assert.equal(empty.status, 204);
      assert.equal(empty.header('range'), '0-0');
      assert.equal(empty.header('docker-upload-uuid'), session.uuid);
      assert.equal(empty.header('location'), `${server.url}${session.path}`);
      assert.equal(empty.body.length, 0);
      await patch(api, session.path, Buffer.alloc(10), 0);
      assert.equal((await api('GET', session.path)).header('range'), '0-9');
    });

    it('DELETE cancels with 204; the session then answers 404 BLOB_UPLOAD_UNKNOWN everywhere', async () => {
      const session = await startUpload(api, 'library/status');
      await patch(api, session.path, Buffer.alloc(10), 0);
      const cancel = await api('DELETE', session.path, { headers: { 'Content-Length': 0 } });
      assert.equal(cancel.status, 204);
      assert.equal(cancel.body.length, 0);
      assertError(await api('GET', session.path), 404, 'BLOB_UPLOAD_UNKNOWN', 'GET');
      assertError(await patch(api, session.path, Buffer.alloc(10), 10), 404, 'BLOB_UPLOAD_UNKNOWN', 'PATCH');
      assertError(
        await api('PUT', withDigest(session.path, sha256(Buffer.alloc(10)))),
        404,
        'BLOB_UPLOAD_UNKNOWN',
        'PUT',
      );
      assertError(await api('DELETE', session.path), 404, 'BLOB_UPLOAD_UNKNOWN', 'DELETE');
      assert.ok(!existsSync(join(repositoryPath(server.root, 'library/status'), '_uploads', session.uuid)));
    });

    it('answers 404 BLOB_UPLOAD_UNKNOWN for an unknown or malformed id, or one of another repository', async () => {
      const session = await startUpload(api, 'library/status');
      const paths = [
        '/v2/library/status/blobs/uploads/00000000-0000-4000-8000-000000000000',
        '/v2/library/status/blobs/uploads/not-a-uuid',
        `/v2/library/elsewhere/blobs/uploads/${session.uuid}`,
      ];
      for (const path of paths) {
        assertError(await api('GET', path), 404, 'BLOB_UPLOAD_UNKNOWN', path);
        assertError(await api('PATCH', path, { body: Buffer.alloc(4) }), 404, 'BLOB_UPLOAD_UNKNOWN', path);
      }
      assert.equal((await api('GET', session.path)).status, 204);
    });

    it('answers 400 DIGEST_INVALID to a closing PUT without a digest, and keeps the session', async () => {
      const session = await startUpload(api, 'library/status');
      await patch(api, session.path, Buffer.alloc(10), 0);
      assertError(await api('PUT', session.path, { headers: { 'Content-Length': 0 } }), 400, 'DIGEST_INVALID');
      assert.equal((await api('GET', session.path)).header('range'), '0-9');
    });
  });

  describe('digests', () => {
    it('pushes with ?digest-algorithm=sha512 and a sha512 digest', async () => {
      const content = randomBlob(1500).content;
      const digest = sha512(content);
      const session = await startUpload(api, 'library/sha512', '?digest-algorithm=sha512');
      await patch(api, session.path, content.subarray(0, 1000), 0);
      const put = await api('PUT', withDigest(session.path, digest), {
        body: content.subarray(1000),
        headers: { 'Content-Range': '1000-1499' },
      });
      assert.equal(put.status, 201, put.text());
      assert.equal(put.header('docker-content-digest'), digest);
      assert.equal(put.header('location'), `${server.url}/v2/library/sha512/blobs/${digest}`);
      const pulled = await api('GET', `/v2/library/sha512/blobs/${digest}`);
      assert.equal(pulled.status, 200);
      assert.equal(pulled.header('docker-content-digest'), digest);
      assert.deepEqual(pulled.body, content);
      assert.deepEqual(readFileSync(blobDataPath(server.root, digest)), content);
    });

    it('takes a sha512 digest in a single POST, and for a session opened as sha256', async () => {
      const single = randomBlob(100).content;
      const reply = await api('POST', `/v2/library/sha512/blobs/uploads/?digest=${sha512(single)}`, { body: single });
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header('docker-content-digest'), sha512(single));

      const other = randomBlob(100).content;
      const session = await startUpload(api, 'library/sha512');
      const put = await api('PUT', withDigest(session.path, sha512(other)), { body: other });
      assert.equal(put.status, 201, put.text());
      assert.deepEqual((await api('GET', `/v2/library/sha512/blobs/${sha512(other)}`)).body, other);
    });

    it('refuses an unsupported algorithm with 400 DIGEST_INVALID', async () => {
      for (const algorithm of ['md5', 'sha384', 'SHA256', '']) {
        const reply = await api('POST', `/v2/library/algos/blobs/uploads/?digest-algorithm=${algorithm}`);
        assertError(reply, 400, 'DIGEST_INVALID', algorithm);
      }
      const content = Buffer.from('hello');
      const single = await api('POST', `/v2/library/algos/blobs/uploads/?digest=md5:5d41402abc4b2a76b9719d911017c592`, {
        body: content,
      });
      assertError(single, 400, 'DIGEST_INVALID', 'single POST');
      const session = await startUpload(api, 'library/algos');
      const put = await api('PUT', withDigest(session.path, 'sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'), {
        body: content,
      });
      assertError(put, 400, 'DIGEST_INVALID', 'closing PUT');
    });

    it('refuses a digest that does not match the content; nothing becomes visible', async () => {
      const blob = randomBlob(700);
      const claimed = randomBlob(700).digest;
      const before = storedBlobDigests(server.root);
      const session = await startUpload(api, 'library/mismatch');
      const put = await api('PUT', withDigest(session.path, claimed), { body: blob.content, headers: OCTETS });
      assertError(put, 400, 'DIGEST_INVALID');
      const single = await api('POST', `/v2/library/mismatch/blobs/uploads/?digest=${claimed}`, { body: blob.content });
      assertError(single, 400, 'DIGEST_INVALID', 'single POST');

      for (const digest of [claimed, blob.digest]) {
        assertError(await api('GET', `/v2/library/mismatch/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
        assert.ok(!existsSync(blobDataPath(server.root, digest)), `no blob file for ${digest}`);
      }
      assert.deepEqual(storedBlobDigests(server.root), before);
      // The failed session is discarded, as Distribution does.
      assertError(await api('GET', session.path), 404, 'BLOB_UPLOAD_UNKNOWN');
    });
    it('does not link a stored blob to a repository that uploads other bytes under its digest', async () => {
      const secret = randomBlob(400);
      await pushBlob(server.url, 'library/secret', secret);
      const guess = await api('POST', `/v2/library/thief/blobs/uploads/?digest=${secret.digest}`, {
        body: Buffer.from('not the secret'),
      });
      assertError(guess, 400, 'DIGEST_INVALID');
      assertError(await api('GET', `/v2/library/thief/blobs/${secret.digest}`), 404, 'BLOB_UNKNOWN');
      assert.deepEqual(
        readFileSync(blobDataPath(server.root, secret.digest)),
        secret.content,
        'stored bytes untouched',
      );
    });
  });

  describe('cross-repository mount', () => {
    it('mounts a blob from another repository with 201, Location and Docker-Content-Digest', async () => {
      const blob = randomBlob(600);
      await pushBlob(server.url, 'library/source', blob);
      const reply = await api('POST', `/v2/library/target/blobs/uploads/?mount=${blob.digest}&from=library/source`);
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header('location'), `${server.url}/v2/library/target/blobs/${blob.digest}`);
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.equal(reply.header('docker-upload-uuid'), undefined);
      const pulled = await api('GET', `/v2/library/target/blobs/${blob.digest}`);
      assert.equal(pulled.status, 200);
      assert.deepEqual(pulled.body, blob.content);
    });

    it('mounts a stored blob without from', async () => {
      const blob = randomBlob(600);
      await pushBlob(server.url, 'library/source', blob);
      const reply = await api('POST', `/v2/library/fromless/blobs/uploads/?mount=${blob.digest}`);
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header('docker-content-digest'), blob.digest);
      assert.equal((await api('GET', `/v2/library/fromless/blobs/${blob.digest}`)).status, 200);
    });

    it('falls back to a 202 upload session for a blob it cannot mount', async () => {
      const blob = randomBlob(600);
      const reply = await api('POST', `/v2/library/target/blobs/uploads/?mount=${blob.digest}&from=library/source`);
      assert.equal(reply.status, 202, reply.text());
      assert.match(reply.header('docker-upload-uuid')!, UUID);
      assert.equal(reply.header('range'), '0-0');
      const put = await api('PUT', withDigest(pathOf(reply.header('location')), blob.digest), { body: blob.content });
      assert.equal(put.status, 201, put.text());
    });

    it('does not mount from a repository that does not hold the blob, even when another does', async () => {
      const blob = randomBlob(600);
      await pushBlob(server.url, 'library/holder', blob);
      const reply = await api('POST', `/v2/library/target/blobs/uploads/?mount=${blob.digest}&from=library/empty`);
      assert.equal(reply.status, 202);
      assertError(await api('GET', `/v2/library/target/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('refuses an invalid mount digest or from name with 400', async () => {
      assertError(
        await api('POST', '/v2/library/target/blobs/uploads/?mount=sha256:abc&from=library/source'),
        400,
        'DIGEST_INVALID',
      );
      const digest = randomBlob(1).digest;
      assertError(
        await api('POST', `/v2/library/target/blobs/uploads/?mount=${digest}&from=../x`),
        400,
        'NAME_INVALID',
      );
    });
  });

  describe('concurrency', () => {
    it('accepts 8 concurrent pushes of the same blob and stores the right bytes once', async () => {
      const blob = randomBlob(256 * 1024);
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, index) =>
          index % 2 === 0
            ? pushBlob(server.url, 'library/race', blob).then((reply) => reply.status)
            : api('POST', `/v2/library/race-${index}/blobs/uploads/?digest=${blob.digest}`, {
                body: blob.content,
              }).then((reply) => reply.status),
        ),
      );
      assert.deepEqual(replies, Array(8).fill(201));
      assert.deepEqual(readFileSync(blobDataPath(server.root, blob.digest)), blob.content);
      for (const name of ['library/race', 'library/race-1', 'library/race-3', 'library/race-5', 'library/race-7']) {
        assert.deepEqual((await api('GET', `/v2/${name}/blobs/${blob.digest}`)).body, blob.content, name);
      }
      const temp = join(server.root, '.berth-tmp');
      assert.deepEqual(existsSync(temp) ? readdirSync(temp) : [], [], 'no temporary files left');
    });

    it('serves whole, correct bytes to pulls that run while the same blob is pushed again', async () => {
      const blob = randomBlob(512 * 1024);
      await pushBlob(server.url, 'library/busy', blob);
      const pushes = Array.from({ length: 8 }, () =>
        pushBlob(server.url, 'library/busy', blob).then((reply) => reply.status),
      );
      const pulls = Array.from({ length: 16 }, () =>
        digestOfDownload(server.url, `/v2/library/busy/blobs/${blob.digest}`),
      );
      const [pushed, pulled] = await Promise.all([Promise.all(pushes), Promise.all(pulls)]);
      assert.deepEqual(pushed, Array(8).fill(201));
      for (const result of pulled)
        assert.deepEqual(result, { status: 200, digest: blob.digest, size: blob.content.length });
    });
  });
});

describe('an upload across a restart', () => {
  it('resumes from the stored offset on a new server over the same root', async () => {
    const root = tempDir();
    const blob = randomBlob(10_000);
    try {
      const first = await startBerth({ root });
      const firstApi = client(first.url);
      const session = await startUpload(firstApi, 'library/resume');
      assert.equal((await patch(firstApi, session.path, blob.content.subarray(0, 4000), 0)).header('range'), '0-3999');
      await first.close();

      const second = await startBerth({ root });
      try {
        const api = client(second.url);
        const status = await api('GET', session.path);
        assert.equal(status.status, 204);
        assert.equal(status.header('range'), '0-3999');
        assert.equal(status.header('location'), `${second.url}${session.path}`);
        const rest = await patch(api, session.path, blob.content.subarray(4000), 4000);
        assert.equal(rest.header('range'), '0-9999');
        const put = await api('PUT', withDigest(session.path, blob.digest));
        assert.equal(put.status, 201, put.text());
        assert.equal(put.header('docker-content-digest'), blob.digest);
        assert.deepEqual((await api('GET', `/v2/library/resume/blobs/${blob.digest}`)).body, blob.content);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

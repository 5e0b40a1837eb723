/**
 * The spec's error codes and the JSON envelope, names that try to leave the storage root, unknown
 * paths and unsupported methods.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { ERROR_CODES } from '../../src/api/errcodes.js';
import { isValidName } from '../../src/api/reference.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage, OCI_INDEX, OCI_MANIFEST, pushBlob, randomBlob, sha256 } from '../helpers/content.js';
import { listTree, repositoryPath } from '../helpers/files.js';
import { assertError, client, type Api, type HttpReply } from '../helpers/http.js';

const UNKNOWN_DIGEST = `sha256:${'0'.repeat(64)}`;
const EMPTY_INDEX = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[]}`;
/**
 * Codes that belong to authentication and rate limiting, which the core does not produce, and
 * UNKNOWN, which only a failure of the registry itself produces (500).
 */
// UNAVAILABLE comes from a pull-through cache's unreachable upstream (test/proxy) and from the
// health checks (test/observability/health.test.ts).
const NOT_FROM_THE_CORE = new Set(['UNAUTHORIZED', 'DENIED', 'TOOMANYREQUESTS', 'UNKNOWN', 'UNAVAILABLE']);

async function openUpload(api: Api, name: string): Promise<string> {
  const reply = await api('POST', `/v2/${name}/blobs/uploads/`);
  assert.equal(reply.status, 202);
  return new URL(reply.header('location')!).pathname;
}

describe('error codes', () => {
  let server: TestBerth;
  let noDelete: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({ config: { berth: { manifestmaxsize: 4096 } } });
    noDelete = await startBerth({ config: { storage: { delete: { enabled: false } } } });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    await noDelete.close();
  });

  /** One way to provoke each code, with the status the spec (or Distribution) gives it. */
  const triggers: Array<{ code: string; status: number; what: string; run: () => Promise<HttpReply> }> = [
    {
      code: 'BLOB_UNKNOWN',
      status: 404,
      what: 'GET an unknown blob',
      run: () => api('GET', `/v2/err/repo/blobs/${UNKNOWN_DIGEST}`),
    },
    {
      code: 'BLOB_UPLOAD_INVALID',
      status: 416,
      what: 'a chunk out of order',
      run: async () =>
        api('PATCH', await openUpload(api, 'err/repo'), { body: Buffer.alloc(5), headers: { 'Content-Range': '5-9' } }),
    },
    {
      code: 'BLOB_UPLOAD_INVALID',
      status: 400,
      what: 'a malformed Content-Range',
      run: async () =>
        api('PATCH', await openUpload(api, 'err/repo'), {
          body: Buffer.alloc(5),
          headers: { 'Content-Range': 'bytes=0-4' },
        }),
    },
    {
      code: 'BLOB_UPLOAD_UNKNOWN',
      status: 404,
      what: 'an upload that was never started',
      run: () => api('GET', '/v2/err/repo/blobs/uploads/3f0c0e3a-8a0b-4c39-9d55-6f4f2c1f0a11'),
    },
    {
      code: 'DIGEST_INVALID',
      status: 400,
      what: 'content that does not match its digest',
      run: () =>
        api('POST', `/v2/err/repo/blobs/uploads/?digest=${UNKNOWN_DIGEST}`, { body: Buffer.from('not zeros') }),
    },
    {
      code: 'DIGEST_INVALID',
      status: 400,
      what: 'a malformed digest',
      run: () => api('GET', '/v2/err/repo/blobs/sha256:123'),
    },
    {
      code: 'MANIFEST_BLOB_UNKNOWN',
      status: 400,
      what: 'a manifest whose blobs were never pushed',
      run: () => {
        const image = makeImage({ layers: 1 });
        return api('PUT', '/v2/err/repo/manifests/v1', {
          body: image.manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        });
      },
    },
    {
      code: 'MANIFEST_INVALID',
      status: 400,
      what: 'a manifest that is not JSON',
      run: () => api('PUT', '/v2/err/repo/manifests/v1', { body: 'nope', headers: { 'Content-Type': OCI_MANIFEST } }),
    },
    {
      code: 'MANIFEST_INVALID',
      status: 413,
      what: 'a manifest over berth.manifestmaxsize',
      run: () =>
        api('PUT', '/v2/err/repo/manifests/v1', {
          body: Buffer.alloc(4097, 0x20),
          headers: { 'Content-Type': OCI_INDEX },
        }),
    },
    {
      code: 'MANIFEST_INVALID',
      status: 400,
      what: 'a push to a malformed tag',
      run: () => api('PUT', '/v2/err/repo/manifests/-tag', { body: '{}', headers: { 'Content-Type': OCI_MANIFEST } }),
    },
    {
      code: 'MANIFEST_UNKNOWN',
      status: 404,
      what: 'a read of a malformed tag',
      run: () => api('GET', '/v2/err/repo/manifests/-tag'),
    },
    {
      code: 'MANIFEST_UNKNOWN',
      status: 404,
      what: 'an unknown tag',
      run: () => api('GET', '/v2/err/repo/manifests/missing'),
    },
    {
      code: 'NAME_INVALID',
      status: 400,
      what: 'a name outside the grammar',
      run: () => api('GET', '/v2/Err/Repo/tags/list'),
    },
    {
      code: 'NAME_UNKNOWN',
      status: 404,
      what: 'tags of an unknown repository',
      run: () => api('GET', '/v2/err/never/tags/list'),
    },
    {
      code: 'SIZE_INVALID',
      status: 400,
      what: 'a Content-Length that disagrees with Content-Range',
      run: async () =>
        api('PATCH', await openUpload(api, 'err/repo'), { body: Buffer.alloc(5), headers: { 'Content-Range': '0-9' } }),
    },
    {
      code: 'UNSUPPORTED',
      status: 405,
      what: 'a method the route does not take',
      run: () => api('PATCH', '/v2/err/repo/manifests/v1'),
    },
    {
      code: 'UNSUPPORTED',
      status: 404,
      what: 'a path that is no endpoint',
      run: () => api('GET', '/v2/err/repo/nothing'),
    },
    {
      code: 'UNSUPPORTED',
      status: 405,
      what: 'DELETE with deletion disabled',
      run: () => client(noDelete.url)('DELETE', `/v2/err/repo/blobs/${UNKNOWN_DIGEST}`),
    },
  ];

  for (const trigger of triggers) {
    it(`${trigger.code} (${trigger.status}): ${trigger.what}`, async () => {
      const reply = await trigger.run();
      assertError(reply, trigger.status, trigger.code);
      const body = reply.json<{ errors: Array<Record<string, unknown>> }>();
      for (const entry of body.errors) {
        assert.deepEqual(
          Object.keys(entry).filter((key) => !['code', 'message', 'detail'].includes(key)),
          [],
          'only code, message, detail',
        );
        assert.match(entry.code as string, /^[A-Z_]+$/);
      }
    });
  }

  it('covers every code of the spec table that the core can produce', () => {
    const expected = Object.keys(ERROR_CODES)
      .filter((code) => !NOT_FROM_THE_CORE.has(code))
      .sort();
    assert.deepEqual([...new Set(triggers.map((trigger) => trigger.code))].sort(), expected);
  });

  it('uses the status of the code table unless the spec asks for another', () => {
    for (const trigger of triggers) {
      // 413 and 416 are the spec's own statuses; 404 UNSUPPORTED is the answer to unknown paths.
      if ([413, 416].includes(trigger.status) || (trigger.code === 'UNSUPPORTED' && trigger.status === 404)) continue;
      assert.equal(ERROR_CODES[trigger.code as keyof typeof ERROR_CODES].status, trigger.status, trigger.code);
    }
  });
});

describe('names that try to leave the storage root', () => {
  let parent: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    parent = tempDir('berth-escape-');
    server = await startBerth({ root: join(parent, 'root') });
    api = client(server.url);
    // Something legitimate first, so that the root has its usual tree.
    await pushBlob(server.url, 'legit/repo', randomBlob(10));
  });
  after(async () => {
    await server.close();
    rmSync(parent, { recursive: true, force: true });
  });

  const NAMES = [
    '..',
    '../..',
    '../../../../../../../../escape',
    'a/../../../../../../escape',
    '%2e%2e',
    '%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/escape',
    '.%2e/.%2e/.%2e/.%2e/escape',
    'a%2f..%2f..%2f..%2f..%2fescape',
    'a%2fb',
    '..%5c..%5c..%5cescape',
    'a\\..\\..\\..\\escape',
    'a%00b',
    'a%00',
    'UPPER',
    'a/UPPER',
    'x'.repeat(256),
    `${'x'.repeat(200)}/${'y'.repeat(60)}`,
    '/absolute',
    'a//b',
    '.hidden',
    'a/.b',
    'a/_manifests',
    '_layers',
    'a:b',
    'a%20b',
    '~root',
  ];

  function requestsFor(name: string): Array<[string, string, Buffer | undefined]> {
    const blob = Buffer.from('escape attempt');
    const requests: Array<[string, string, Buffer | undefined]> = [
      ['GET', `/v2/${name}/tags/list`, undefined],
      ['POST', `/v2/${name}/blobs/uploads/`, undefined],
      ['POST', `/v2/${name}/blobs/uploads/?digest=sha256:${'1'.repeat(64)}`, blob],
      ['PATCH', `/v2/${name}/blobs/uploads/3f0c0e3a-8a0b-4c39-9d55-6f4f2c1f0a11`, blob],
      ['PUT', `/v2/${name}/manifests/latest`, Buffer.from(EMPTY_INDEX)],
      ['GET', `/v2/${name}/manifests/latest`, undefined],
      ['DELETE', `/v2/${name}/manifests/latest`, undefined],
      ['GET', `/v2/${name}/blobs/${UNKNOWN_DIGEST}`, undefined],
      ['DELETE', `/v2/${name}/blobs/${UNKNOWN_DIGEST}`, undefined],
      ['GET', `/v2/${name}/referrers/${UNKNOWN_DIGEST}`, undefined],
    ];
    // Query parameters are percent-decoded, so `from` is a name only when its decoded form is not.
    if (!isValidName(decodeURIComponent(name))) {
      requests.push(['POST', `/v2/legit/repo/blobs/uploads/?mount=${UNKNOWN_DIGEST}&from=${name}`, undefined]);
    }
    return requests;
  }

  it('answers 400 (NAME_INVALID, or a refused request target) or 404, and writes nothing anywhere', async () => {
    const before = listTree(parent);
    assert.ok(before.length > 0);
    for (const name of NAMES) {
      for (const [method, path, body] of requestsFor(name)) {
        const reply = await api(method, path, body ? { body, headers: { 'Content-Type': OCI_INDEX } } : {});
        const where = `${method} ${path.slice(0, 120)}`;
        assert.ok(reply.status === 400 || reply.status === 404, `${where}: status ${reply.status} ${reply.text()}`);
        // Dot segments, encoded slashes and backslashes, NUL and empty segments never reach the
        // router: the request-target parser refuses them (src/request/target.ts).
        const refusedTarget = reply.status === 400 && reply.json().errors[0].code === 'UNSUPPORTED';
        if (refusedTarget) assert.match(reply.json().errors[0].message, /^request target not accepted: /, where);
        else if (reply.status === 400) assertError(reply, 400, 'NAME_INVALID', where);
        else assertError(reply, 404, reply.json().errors[0].code, where);
      }
    }
    assert.deepEqual(listTree(parent), before, 'nothing written inside or beside the root');
    assert.ok(!existsSync(join(parent, 'escape')));
  });

  it('refuses references that try to leave their folder', async () => {
    const before = listTree(parent);
    const paths: Array<[string, string]> = [
      ['PUT', '/v2/legit/repo/manifests/..'],
      ['PUT', '/v2/legit/repo/manifests/%2e%2e'],
      ['PUT', '/v2/legit/repo/manifests/..%2f..%2fescape'],
      ['PUT', '/v2/legit/repo/manifests/sha256:..%2f..%2f..'],
      ['GET', '/v2/legit/repo/blobs/sha256:..%2f..%2f..%2fescape'],
      ['PATCH', '/v2/legit/repo/blobs/uploads/..'],
      ['PATCH', '/v2/legit/repo/blobs/uploads/%2e%2e'],
      ['PUT', `/v2/legit/repo/blobs/uploads/..%2f..%2f_layers?digest=${UNKNOWN_DIGEST}`],
      ['DELETE', '/v2/legit/repo/blobs/uploads/..%5c..'],
      ['GET', '/v2/legit/repo/referrers/sha256:..%2f..'],
      ['PUT', '/v2/legit/repo/manifests/latest?tag=..%2f..%2fescape'],
    ];
    for (const [method, path] of paths) {
      const reply = await api(method, path, { body: Buffer.from(EMPTY_INDEX), headers: { 'Content-Type': OCI_INDEX } });
      assert.ok(reply.status === 400 || reply.status === 404, `${method} ${path}: ${reply.status} ${reply.text()}`);
      assertError(reply, reply.status, reply.json().errors[0].code, `${method} ${path}`);
    }
    assert.deepEqual(listTree(parent), before);
  });

  it('takes a name of exactly 255 characters, and stores it inside the root', async () => {
    const name = `${'n'.repeat(127)}/${'m'.repeat(127)}`;
    assert.equal(name.length, 255);
    const blob = randomBlob(20);
    await pushBlob(server.url, name, blob);
    assert.equal((await api('GET', `/v2/${name}/blobs/${blob.digest}`)).status, 200);
    assert.ok(existsSync(repositoryPath(server.root, name)));
  });
});

describe('unknown paths and methods', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
  });
  after(() => server.close());

  it('answers unknown paths with 404 and a JSON error', async () => {
    for (const path of [
      '/v1/',
      '/favicon.ico',
      '/v2/_catalog/x',
      '/v2/a/unknown',
      '/v2/a/blobs/',
      '/v2/a/manifests/',
      '/v2/a/tags/list/extra',
      '/v2/a/tags',
    ]) {
      const reply = await api('GET', path);
      assertError(reply, 404, 'UNSUPPORTED', path);
      assert.deepEqual(reply.json().errors[0].detail, { path }, path);
    }
  });

  it('answers a path it cannot percent-decode with 400 and a JSON error naming the target', async () => {
    for (const path of ['/v2/a%zz/tags/list', '/v2/a/manifests/x%', '/v2/a%/unknown']) {
      const reply = await api('GET', path);
      assertError(reply, 400, 'UNSUPPORTED', path);
      assert.deepEqual(reply.json().errors[0].detail, { target: path }, path);
    }
  });

  it('answers a method the route does not support with 405, a JSON error and Allow', async () => {
    const uuid = new URL((await api('POST', '/v2/a/blobs/uploads/')).header('location')!).pathname;
    const cases: Array<[string, string, string]> = [
      ['POST', '/v2/a/manifests/latest', 'GET, HEAD, PUT, DELETE'],
      ['PATCH', `/v2/a/blobs/${UNKNOWN_DIGEST}`, 'GET, HEAD, DELETE'],
      ['PUT', `/v2/a/blobs/${UNKNOWN_DIGEST}`, 'GET, HEAD, DELETE'],
      ['GET', '/v2/a/blobs/uploads/', 'POST'],
      ['POST', uuid, 'GET, PATCH, PUT, DELETE'],
      ['PUT', '/v2/a/tags/list', 'GET'],
      ['DELETE', `/v2/a/referrers/${UNKNOWN_DIGEST}`, 'GET'],
      ['POST', '/v2/_catalog', 'GET'],
      ['PROPFIND', '/v2/a/tags/list', 'GET'],
      ['TRACE', '/v2/', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const reply = await api(method, path);
      assertError(reply, 405, 'UNSUPPORTED', `${method} ${path}`);
      assert.equal(reply.header('allow'), allow, `${method} ${path}`);
    }
    const head = await api('HEAD', '/v2/_catalog');
    assert.equal(head.status, 405);
    assert.equal(head.header('allow'), 'GET');
  });

  it('keeps serving after a client disconnects in the middle of a chunk', async () => {
    const path = new URL((await api('POST', '/v2/a/blobs/uploads/')).header('location')!).pathname;
    const { port } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `PATCH ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\nContent-Type: application/octet-stream\r\n\r\n`,
        );
        socket.write(Buffer.alloc(5000, 1), () => setImmediate(() => socket.destroy()));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // The session is still usable: what reached the disk stays, and more can follow. The next
    // PATCH waits for the broken one to settle (one writer per session), so its Range is final.
    const more = await api('PATCH', path, { body: Buffer.alloc(10, 2) });
    assert.equal(more.status, 202, more.text());
    const total = Number(more.header('range')!.split('-')[1]) + 1;
    const received = total - 10;
    assert.ok(received >= 0 && received <= 5000, `received ${received}`);
    const content = Buffer.concat([Buffer.alloc(received, 1), Buffer.alloc(10, 2)]);
    const put = await api('PUT', `${path}?digest=${sha256(content)}`);
    assert.equal(put.status, 201, put.text());
    assert.equal((await api('GET', '/v2/')).status, 200);
  });
});

describe('arbitrary requests', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth()));
  after(() => server.close());

  it('never get a 5xx, and every error is the JSON envelope with the API version header', async () => {
    const api = client(server.url);
    const zeros = `sha256:${'0'.repeat(64)}`;
    const segment = fc.constantFrom(
      'v2',
      'a',
      'b',
      'blobs',
      'uploads',
      'manifests',
      'tags',
      'list',
      'referrers',
      '_catalog',
      '',
      '..',
      '%2e',
      '%zz',
      'latest',
      zeros,
      `sha512:${'1'.repeat(128)}`,
      'sha256:abc',
      '3f0c0e3a-8a0b-4c39-9d55-6f4f2c1f0a11',
      '?n=2',
      `?digest=${zeros}`,
      '?mount=x&from=y',
      '?tag=a&tag=-',
      '?n=-1&last=%',
      '?artifactType=',
    );
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND');
    const headers = fc.record(
      {
        'Content-Range': fc.constantFrom('0-0', '0-9', '5-1', 'x', '0-99999999999999999999'),
        Range: fc.constantFrom('bytes=0-', 'bytes=-1', 'bytes=9999999999999999999-', 'bytes=0-0,1-1'),
        'Content-Type': fc.constantFrom(OCI_MANIFEST, OCI_INDEX, 'text/plain', 'bogus'),
      },
      { requiredKeys: [] },
    );
    const body = fc.option(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
        fc
          .constantFrom('{}', '{"schemaVersion":2}', '{"schemaVersion":2,"manifests":[{}]}', EMPTY_INDEX)
          .map((text) => Buffer.from(text)),
      ),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(
        method,
        fc.array(segment, { minLength: 1, maxLength: 7 }),
        headers,
        body,
        async (verb, segments, sent, content) => {
          // "/a/?n=2" becomes "/a?n=2"; a request target always starts with "/".
          const path = `/${segments.join('/')}`.replace(/(.)\/\?/, '$1?');
          // http() itself asserts the API version header on every response.
          const reply = await api(verb, path, { headers: sent, body: content });
          assert.ok(reply.status < 500, `${verb} ${path} ${JSON.stringify(sent)}: ${reply.status} ${reply.text()}`);
          if (reply.status >= 400 && verb !== 'HEAD')
            assertError(reply, reply.status, reply.json().errors?.[0]?.code, `${verb} ${path}`);
        },
      ),
      { numRuns: 400, seed: 20240601 },
    );
  });
});

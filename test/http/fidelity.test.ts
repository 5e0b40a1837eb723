/**
 * Protocol details third-party tools rely on, each asked of Berth and of Distribution (Debian's
 * `docker-registry`) in the same test: reads of a reference that is neither tag nor digest,
 * unsatisfiable and inverted ranges, header names as they go on the wire, OPTIONS and CORS
 * preflights with `http.headers`, and `/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { pushBlob, randomBlob, type Blob } from '../helpers/content.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { assertError, http } from '../helpers/http.js';
import { describeWithTools, tools } from '../helpers/tools.js';

/** What went on the wire: the status line and each header line as written, for one request. */
async function rawExchange(
  url: string,
  request: string,
): Promise<{ status: number; headers: Array<[string, string]> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write(request);
  let text = '';
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString('latin1');
    if (text.includes('\r\n\r\n')) break;
  }
  socket.destroy();
  const [statusLine, ...lines] = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
  const headers = lines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
  });
  return { status: Number(statusLine!.split(' ')[1]), headers };
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': ['*'],
  'Access-Control-Allow-Methods': ['HEAD', 'GET', 'OPTIONS', 'DELETE'],
  'Access-Control-Allow-Headers': ['Authorization', 'Accept'],
  'Access-Control-Expose-Headers': ['Docker-Content-Digest'],
};

describeWithTools('protocol details, beside Distribution', [tools.distribution()], () => {
  let berth: TestBerth;
  let distribution: TestDockerRegistry;
  const blob: Blob = randomBlob(1000);
  const servers = () => [
    { name: 'Berth', url: berth.url },
    { name: 'Distribution', url: distribution.url },
  ];

  before(async () => {
    const config = { http: { headers: CORS_HEADERS } };
    [berth, distribution] = await Promise.all([
      startBerth({ config: { ...config, berth: { ui: { enabled: false } } } }),
      startDockerRegistry({ config }),
    ]);
    for (const { url } of servers()) await pushBlob(url, 'fidelity/repo', blob);
  });
  after(async () => {
    await berth?.close();
    await distribution?.close();
  });

  it('answers GET, HEAD and DELETE of a reference that is neither tag nor digest with 404', async () => {
    for (const reference of ['.INVALID_MANIFEST_NAME', '-dash', 'sha256:nothex']) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const path = `/v2/fidelity/repo/manifests/${reference}`;
        // Distribution 2.8 answers 500 to a digest it cannot parse; Berth's 404 is the spec's.
        if (!reference.startsWith('sha256:')) {
          const theirs = await http(distribution.url, path, { method, skipVersionCheck: true });
          assert.equal(theirs.status, 404, `Distribution ${method} ${reference}`);
        }
        assertError(await http(berth.url, path, { method }), 404, 'MANIFEST_UNKNOWN', `Berth ${method} ${reference}`);
      }
    }
    // A push to such a reference stays a 400 MANIFEST_INVALID: the client sent something wrong.
    const put = await http(berth.url, '/v2/fidelity/repo/manifests/.INVALID_MANIFEST_NAME', {
      method: 'PUT',
      body: '{}',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assertError(put, 400, 'MANIFEST_INVALID');
  });

  it('answers an unsatisfiable or inverted Range with 416, Content-Range bytes */<size> and no body', async () => {
    for (const range of ['bytes=500-0', 'bytes=1000-', 'bytes=5000-6000', 'bytes=20-19']) {
      // Distribution 2.8 declares the blob's length but sends a short text, and leaves
      // Content-Range out for an inverted range: only its status line and headers are read.
      const request = `GET /v2/fidelity/repo/blobs/${blob.digest} HTTP/1.1\r\nHost: x\r\nRange: ${range}\r\nConnection: close\r\n\r\n`;
      const theirs = await rawExchange(distribution.url, request);
      assert.equal(theirs.status, 416, `Distribution ${range}`);
      const theirRange = theirs.headers.find(([name]) => name === 'Content-Range')?.[1];
      if (theirRange !== undefined) assert.equal(theirRange, 'bytes */1000', `Distribution ${range}`);
      const ours = await http(berth.url, `/v2/fidelity/repo/blobs/${blob.digest}`, { headers: { Range: range } });
      assert.equal(ours.status, 416, range);
      assert.equal(ours.header('content-range'), 'bytes */1000', range);
      assert.equal(ours.body.length, 0, range);
      assert.equal(ours.header('content-length'), '0', range);
    }
    for (const { name, url } of servers()) {
      const partial = await http(url, `/v2/fidelity/repo/blobs/${blob.digest}`, { headers: { Range: 'bytes=10-19' } });
      assert.equal(partial.status, 206, name);
      assert.deepEqual(partial.body, blob.content.subarray(10, 20), name);
    }
  });

  it('writes header names in canonical case, spelled as Distribution spells them', async () => {
    const requests = [
      `HEAD /v2/fidelity/repo/blobs/${blob.digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /v2/fidelity/repo/manifests/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ];
    for (const request of requests) {
      const ours = await rawExchange(berth.url, request);
      const theirs = await rawExchange(distribution.url, request);
      assert.equal(ours.status, theirs.status, request);
      const ourNames = ours.headers.map(([name]) => name);
      for (const name of ourNames) assert.match(name, /^[A-Z][a-z0-9]*(-[A-Z][a-z0-9]*)*$/, `${name} in ${request}`);
      for (const [name] of theirs.headers) {
        const same = ourNames.find((ours) => ours.toLowerCase() === name.toLowerCase());
        if (same !== undefined) assert.equal(same, name, request);
      }
      assert.ok(ourNames.includes('Docker-Distribution-Api-Version'), `${ourNames.join(' ')} in ${request}`);
    }
    const head = await rawExchange(berth.url, requests[0]!);
    const names = head.headers.map(([name]) => name);
    for (const name of ['Docker-Content-Digest', 'Content-Type', 'Content-Length', 'Etag', 'Accept-Ranges'])
      assert.ok(names.includes(name), `${name} among ${names.join(' ')}`);
  });

  it('answers OPTIONS and CORS preflights with 200, Allow and the configured Access-Control headers', async () => {
    const paths = [
      '/v2/',
      '/v2/_catalog',
      '/v2/fidelity/repo/tags/list',
      '/v2/fidelity/repo/manifests/latest',
      `/v2/fidelity/repo/blobs/${blob.digest}`,
      '/v2/fidelity/repo/blobs/uploads/',
    ];
    const preflight = {
      Origin: 'http://elsewhere.example',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'authorization',
    };
    for (const path of paths) {
      for (const { name, url } of servers()) {
        const reply = await http(url, path, { method: 'OPTIONS', headers: preflight });
        assert.equal(reply.status, 200, `${name} ${path}`);
        assert.equal(reply.header('access-control-allow-origin'), '*', `${name} ${path}`);
        assert.equal(reply.header('access-control-allow-headers'), 'Authorization, Accept', `${name} ${path}`);
        assert.equal(reply.header('access-control-allow-methods'), 'HEAD, GET, OPTIONS, DELETE', `${name} ${path}`);
      }
      // Distribution answers OPTIONS /v2/ as a GET ({}); every other endpoint as Berth does.
      const ours = await http(berth.url, path, { method: 'OPTIONS', headers: preflight });
      assert.match(ours.header('allow') ?? '', /GET|POST/, path);
      assert.equal(ours.body.length, 0, path);
    }
    // A path that is no endpoint stays a 404 for both.
    for (const { name, url } of servers()) {
      const reply = await http(url, '/v2/fidelity/repo/nothing', {
        method: 'OPTIONS',
        headers: preflight,
        skipVersionCheck: true,
      });
      assert.equal(reply.status, 404, name);
    }
  });

  it('answers / with 200 and an empty body when the web UI is off', async () => {
    for (const method of ['GET', 'HEAD']) {
      for (const { name, url } of servers()) {
        const reply = await http(url, '/', { method, skipVersionCheck: true });
        assert.equal(reply.status, 200, `${name} ${method}`);
        assert.equal(reply.body.length, 0, `${name} ${method}`);
        assert.equal(reply.header('cache-control'), 'no-cache', `${name} ${method}`);
      }
    }
  });
});

describe('/ with the web UI on', () => {
  let berth: TestBerth;
  before(async () => {
    berth = await startBerth({ config: { berth: { ui: { path: '/ui/' } } } });
  });
  after(() => berth.close());

  it('answers / with 200 and an empty body when the UI is served elsewhere', async () => {
    const reply = await http(berth.url, '/');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.length, 0);
  });
});

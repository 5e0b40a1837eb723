/** `/v2/` (end-1) and the API version header every response carries. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { assertError, client, http, type Api } from '../helpers/http.js';

describe('GET /v2/', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
  });
  after(() => server.close());

  it('answers 200 with an empty JSON object and the API version header', async () => {
    const reply = await http(server.url, '/v2/', { skipVersionCheck: true });
    assert.equal(reply.status, 200);
    assert.equal(reply.header('docker-distribution-api-version'), 'registry/2.0');
    assert.match(reply.header('content-type')!, /^application\/json(; charset=utf-8)?$/);
    assert.equal(reply.header('content-length'), '2');
    assert.equal(reply.text(), '{}');
  });

  it('answers HEAD with the same headers and no body', async () => {
    const reply = await api('HEAD', '/v2/');
    assert.equal(reply.status, 200);
    assert.equal(reply.header('content-length'), '2');
    assert.equal(reply.body.length, 0);
  });

  it('answers /v2 without the trailing slash too', async () => {
    const reply = await api('GET', '/v2');
    assert.equal(reply.status, 200);
    assert.equal(reply.text(), '{}');
  });

  it('refuses other methods with 405, a JSON error and Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const reply = await api(method, '/v2/');
      assertError(reply, 405, 'UNSUPPORTED', method);
      assert.equal(reply.header('allow'), 'GET, HEAD', method);
    }
  });

  it('sends the API version header on errors, 404s and 405s as well', async () => {
    // http() asserts the header on every response; these are the ones most likely to miss it.
    const paths: Array<[string, string, number]> = [
      ['GET', '/nothing', 404],
      ['GET', '/v1/', 404],
      ['GET', '/v2/nothing/here', 404],
      ['GET', `/v2/a/blobs/sha256:${'0'.repeat(64)}`, 404],
      ['HEAD', `/v2/a/manifests/latest`, 404],
      ['GET', '/v2/Upper/tags/list', 400],
      ['PATCH', '/v2/_catalog', 405],
      ['PROPFIND', '/v2/', 405],
      ['GET', '/v2/a%zz/tags/list', 400],
    ];
    for (const [method, path, status] of paths) {
      const reply = await api(method, path);
      assert.equal(reply.status, status, `${method} ${path}`);
    }
  });
});

/** `GET /v2/_catalog` with `n` and `last`, `catalog.maxentries` and `http.prefix`. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { assertError, client, type Api } from '../helpers/http.js';
import { tagEmptyIndex } from '../helpers/repos.js';

const NAMES = ['b', 'a/b/c', 'a', 'a-b', 'a.b', 'a/b', 'a_b', 'a__b', 'x/y/z'];
/** Byte order: "-" (0x2d) < "." (0x2e) < "/" (0x2f) < "_" (0x5f). */
const SORTED = ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a__b', 'a_b', 'b', 'x/y/z'];

async function makeRepositories(url: string): Promise<void> {
  for (const name of NAMES) await tagEmptyIndex(url, name, ['latest']);
}

describe('catalog', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
  });
  after(() => server.close());

  it('lists an empty registry as an empty list', async () => {
    const reply = await api('GET', '/v2/_catalog');
    assert.equal(reply.status, 200);
    assert.match(reply.header('content-type')!, /^application\/json/);
    assert.deepEqual(reply.json(), { repositories: [] });
    assert.equal(reply.header('link'), undefined);
  });

  it('lists every repository, nested ones included, in byte order', async () => {
    await makeRepositories(server.url);
    const reply = await api('GET', '/v2/_catalog');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { repositories: SORTED });
    assert.equal(reply.header('link'), undefined);
  });

  it('leaves out folders that only hold other repositories (x and x/y of x/y/z)', async () => {
    const names = (await api('GET', '/v2/_catalog')).json().repositories as string[];
    assert.ok(!names.includes('x') && !names.includes('x/y'));
  });

  it('pages with n, writing Link exactly as Distribution does', async () => {
    const first = await api('GET', '/v2/_catalog?n=2');
    assert.deepEqual(first.json(), { repositories: ['a', 'a-b'] });
    assert.equal(first.header('link'), '</v2/_catalog?last=a-b&n=2>; rel="next"');

    const second = await api('GET', '/v2/_catalog?last=a-b&n=2');
    assert.deepEqual(second.json(), { repositories: ['a.b', 'a/b'] });
    assert.equal(second.header('link'), '</v2/_catalog?last=a%2Fb&n=2>; rel="next"');

    const seen: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=4';
    while (path) {
      const reply = await api('GET', path);
      seen.push(...(reply.json().repositories as string[]));
      const link = reply.header('link');
      path = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      if (link !== undefined) assert.ok(path, `Link header "${link}"`);
    }
    assert.deepEqual(seen, SORTED);
  });

  it('sends no Link on the page that ends at the last repository', async () => {
    const reply = await api('GET', '/v2/_catalog?last=a_b&n=2');
    assert.deepEqual(reply.json(), { repositories: ['b', 'x/y/z'] });
    assert.equal(reply.header('link'), undefined);
  });

  it('answers n=0 with an empty list and no Link', async () => {
    const reply = await api('GET', '/v2/_catalog?n=0');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { repositories: [] });
    assert.equal(reply.header('link'), undefined);
  });

  it('starts after last without n', async () => {
    assert.deepEqual((await api('GET', '/v2/_catalog?last=a/b')).json(), {
      repositories: ['a/b/c', 'a__b', 'a_b', 'b', 'x/y/z'],
    });
  });

  it('refuses an n that is not a non-negative integer with 400', async () => {
    assertError(await api('GET', '/v2/_catalog?n=-1'), 400, 'UNSUPPORTED');
    assertError(await api('GET', '/v2/_catalog?n=ten'), 400, 'UNSUPPORTED');
  });

  it('refuses methods other than GET with 405 and Allow', async () => {
    const reply = await api('DELETE', '/v2/_catalog');
    assertError(reply, 405, 'UNSUPPORTED');
    assert.equal(reply.header('allow'), 'GET');
  });
});

describe('catalog with catalog.maxentries', () => {
  let server: TestBerth;
  before(async () => {
    server = await startBerth({ config: { catalog: { maxentries: 3 } } });
    await makeRepositories(server.url);
  });
  after(() => server.close());

  it('returns at most maxentries without n, with a Link to the rest', async () => {
    const reply = await client(server.url)('GET', '/v2/_catalog');
    assert.deepEqual(reply.json(), { repositories: ['a', 'a-b', 'a.b'] });
    assert.equal(reply.header('link'), '</v2/_catalog?last=a.b&n=3>; rel="next"');
  });

  it('clamps a larger n to maxentries and still links to the rest', async () => {
    const reply = await client(server.url)('GET', '/v2/_catalog?n=100');
    assert.deepEqual(reply.json(), { repositories: ['a', 'a-b', 'a.b'] });
    assert.equal(reply.header('link'), '</v2/_catalog?last=a.b&n=3>; rel="next"');
  });
});

describe('catalog under http.prefix', () => {
  let server: TestBerth;
  before(async () => {
    server = await startBerth({ config: { http: { prefix: '/registry/' } } });
  });
  after(() => server.close());

  it('serves the API under the prefix and writes the prefix into Link', async () => {
    const api = client(server.url);
    for (const name of ['one', 'two', 'three']) {
      const reply = await api('PUT', `/registry/v2/${name}/manifests/latest`, {
        body: '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}',
        headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(reply.status, 201, reply.text());
    }
    const reply = await api('GET', '/registry/v2/_catalog?n=2');
    assert.deepEqual(reply.json(), { repositories: ['one', 'three'] });
    assert.equal(reply.header('link'), '</registry/v2/_catalog?last=three&n=2>; rel="next"');
    assertError(await api('GET', '/v2/_catalog'), 404, 'UNSUPPORTED');
  });
});

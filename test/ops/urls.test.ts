/**
 * How the registry names itself in URLs and headers: `http.prefix`, `http.host`,
 * `http.relativeurls`, and `http.headers` on every response.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, makeImage, randomBlob } from '../helpers/content.js';
import { assertError, client, type Api } from '../helpers/http.js';

async function withBerth(
  config: Record<string, unknown>,
  body: (server: TestBerth, api: Api) => Promise<void>,
): Promise<void> {
  const server = await startBerth({ config });
  try {
    await body(server, client(server.url));
  } finally {
    await server.close();
  }
}

/** Pushes one blob through `base` (a path prefix such as "/registry"); returns the final response. */
async function pushBlobVia(api: Api, base: string, name: string) {
  const blob = randomBlob(100);
  const start = await api('POST', `${base}/v2/${name}/blobs/uploads/`);
  assert.equal(start.status, 202, start.text());
  const location = start.header('location')!;
  const target = new URL(location, 'http://placeholder');
  const put = await api('PUT', `${target.pathname}?digest=${blob.digest}`, { body: blob.content });
  assert.equal(put.status, 201, put.text());
  return { start, put, blob };
}

describe('http.prefix', () => {
  it('serves the API below the prefix; Location and Link headers carry it', async () => {
    await withBerth({ http: { prefix: '/registry/' } }, async (server, api) => {
      assert.equal((await api('GET', '/registry/v2/')).status, 200);
      assertError(await api('GET', '/v2/'), 404, 'UNSUPPORTED', 'the API is not at the root');
      assertError(await api('GET', '/registryv2/'), 404, 'UNSUPPORTED', 'a path that only starts like the prefix');

      const { start, put, blob } = await pushBlobVia(api, '/registry', 'pre/fixed');
      assert.match(
        start.header('location')!,
        new RegExp(`^http://${server.host}/registry/v2/pre/fixed/blobs/uploads/[0-9a-f-]{36}$`),
      );
      assert.equal(put.header('location'), `http://${server.host}/registry/v2/pre/fixed/blobs/${blob.digest}`);
      assert.deepEqual((await api('GET', `/registry/v2/pre/fixed/blobs/${blob.digest}`)).body, blob.content);

      const image = makeImage({ layers: 1 });
      for (const part of [image.config, ...image.layers]) {
        const upload = await api('POST', `/registry/v2/pre/fixed/blobs/uploads/?digest=${part.digest}`, {
          body: part.content,
        });
        assert.equal(upload.status, 201);
      }
      for (const tag of ['a', 'b']) {
        const manifest = await api('PUT', `/registry/v2/pre/fixed/manifests/${tag}`, {
          body: image.manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        });
        assert.equal(manifest.status, 201, manifest.text());
        assert.equal(
          manifest.header('location'),
          `http://${server.host}/registry/v2/pre/fixed/manifests/${image.digest}`,
        );
      }
      const tags = await api('GET', '/registry/v2/pre/fixed/tags/list?n=1');
      assert.deepEqual(tags.json(), { name: 'pre/fixed', tags: ['a'] });
      const link = /^<([^>]+)>; rel="next"$/.exec(tags.header('link') ?? '');
      assert.ok(link, `Link header: ${tags.header('link')}`);
      const next = new URL(link[1]!, 'http://placeholder');
      assert.equal(next.pathname, '/registry/v2/pre/fixed/tags/list');
      assert.equal(next.searchParams.get('last'), 'a');
      const catalog = await api('GET', '/registry/v2/_catalog');
      assert.deepEqual(catalog.json(), { repositories: ['pre/fixed'] });
    });
  });

  it('a prefix without the trailing slash works the same', async () => {
    await withBerth({ http: { prefix: '/nested/registry' } }, async (server, api) => {
      assert.equal((await api('GET', '/nested/registry/v2/')).status, 200);
      const { start } = await pushBlobVia(api, '/nested/registry', 'repo');
      assert.match(
        start.header('location')!,
        new RegExp(`^http://${server.host}/nested/registry/v2/repo/blobs/uploads/`),
      );
    });
  });
});

describe('http.host and http.relativeurls', () => {
  it('http.host makes Location headers absolute URLs on that host', async () => {
    await withBerth({ http: { host: 'https://registry.example.com:8443' } }, async (_server, api) => {
      const { start, put, blob } = await pushBlobVia(api, '', 'hosted');
      assert.match(
        start.header('location')!,
        /^https:\/\/registry\.example\.com:8443\/v2\/hosted\/blobs\/uploads\/[0-9a-f-]{36}$/,
      );
      assert.equal(put.header('location'), `https://registry.example.com:8443/v2/hosted/blobs/${blob.digest}`);
    });
  });

  it('http.host and http.prefix together', async () => {
    await withBerth({ http: { host: 'https://registry.example.com/', prefix: '/mirror/' } }, async (_server, api) => {
      const { start } = await pushBlobVia(api, '/mirror', 'hosted');
      assert.match(
        start.header('location')!,
        /^https:\/\/registry\.example\.com\/mirror\/v2\/hosted\/blobs\/uploads\//,
      );
    });
  });

  it('without http.host, Location follows the request (Host; X-Forwarded-Proto/Host from a trusted proxy)', async () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'front.example.com' };
    await withBerth({}, async (server, api) => {
      const direct = await api('POST', '/v2/plain/blobs/uploads/');
      assert.match(direct.header('location')!, new RegExp(`^http://${server.host}/v2/plain/blobs/uploads/`));
      // From a client that is not a trusted proxy, the headers are ignored.
      const spoofed = await api('POST', '/v2/plain/blobs/uploads/', { headers: forwarded });
      assert.match(spoofed.header('location')!, new RegExp(`^http://${server.host}/v2/plain/blobs/uploads/`));
    });
    await withBerth({ berth: { trustedproxies: ['127.0.0.0/8'] } }, async (_server, api) => {
      const proxied = await api('POST', '/v2/plain/blobs/uploads/', { headers: forwarded });
      assert.match(proxied.header('location')!, /^https:\/\/front\.example\.com\/v2\/plain\/blobs\/uploads\//);
    });
  });

  it('http.relativeurls makes Location headers paths', async () => {
    await withBerth({ http: { relativeurls: true, host: 'https://ignored.example.com' } }, async (_server, api) => {
      const { start, put, blob } = await pushBlobVia(api, '', 'relative');
      assert.match(start.header('location')!, /^\/v2\/relative\/blobs\/uploads\/[0-9a-f-]{36}$/);
      assert.equal(put.header('location'), `/v2/relative/blobs/${blob.digest}`);
    });
  });
});

describe('http.headers', () => {
  it('are added to every response: success, errors, HEAD, unknown paths and methods', async () => {
    const headers = {
      'X-Content-Type-Options': ['nosniff'],
      'X-Frame-Options': 'DENY',
      'X-Berth-Test': ['one', 'two'],
    };
    await withBerth({ http: { headers } }, async (_server, api) => {
      const replies = {
        'GET /v2/': await api('GET', '/v2/'),
        'HEAD /v2/': await api('HEAD', '/v2/'),
        'unknown blob': await api('GET', `/v2/repo/blobs/${randomBlob(1).digest}`),
        'invalid name': await api('GET', '/v2/UPPER/tags/list'),
        'method not allowed': await api('PUT', '/v2/_catalog'),
        'unknown path': await api('GET', '/not/the/api'),
        'undecodable path': await api('GET', '/v2/a%zz/tags/list'),
        'unknown method': await api('PROPFIND', '/v2/'),
      };
      for (const [what, reply] of Object.entries(replies)) {
        assert.equal(reply.header('x-content-type-options'), 'nosniff', `${what} (${reply.status})`);
        assert.equal(reply.header('x-frame-options'), 'DENY', what);
        assert.equal(reply.header('x-berth-test'), 'one, two', what);
      }
    });
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage, OCI_MANIFEST } from '../helpers/content.js';

describe('push and pull an image', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth()));
  after(() => server.close());

  it('serves back the manifest and blobs it stored, byte for byte', async () => {
    const image = makeImage();
    await pushImage(server.url, 'library/nginx', 'latest', image);
    const manifest = await fetch(`${server.url}/v2/library/nginx/manifests/latest`, {
      headers: { Accept: OCI_MANIFEST },
    });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(manifest.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
    for (const blob of [image.config, ...image.layers]) {
      const response = await fetch(`${server.url}/v2/library/nginx/blobs/${blob.digest}`);
      assert.equal(response.status, 200);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.content);
    }
    const catalog = await fetch(`${server.url}/v2/_catalog`);
    assert.deepEqual(await catalog.json(), { repositories: ['library/nginx'] });
    const tags = await fetch(`${server.url}/v2/library/nginx/tags/list`);
    assert.deepEqual(await tags.json(), { name: 'library/nginx', tags: ['latest'] });
  });
});

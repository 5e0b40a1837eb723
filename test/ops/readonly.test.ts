/**
 * `storage.maintenance.readonly.enabled`: every write is refused with 405 UNSUPPORTED and a
 * message that says why, reads are served as usual, and nothing on disk changes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBerth, tempDir } from '../helpers/berth.js';
import { OCI_MANIFEST, makeImage, pushImage, randomBlob } from '../helpers/content.js';
import { listTree } from '../helpers/files.js';
import { assertError, client } from '../helpers/http.js';

describe('read-only mode', () => {
  it('serves reads and refuses every write with 405 UNSUPPORTED', async () => {
    const root = tempDir('berth-readonly-');
    try {
      const image = makeImage();
      const writable = await startBerth({ root });
      await pushImage(writable.url, 'frozen/app', 'v1', image);
      const upload = await fetch(`${writable.url}/v2/frozen/app/blobs/uploads/`, { method: 'POST' });
      const uploadPath = new URL(upload.headers.get('location')!).pathname;
      await writable.close();

      const before = listTree(root);
      const server = await startBerth({ root, config: { storage: { maintenance: { readonly: { enabled: true } } } } });
      try {
        assert.equal(server.berth.purger, undefined, 'no upload purging in read-only mode');
        const api = client(server.url);
        assert.equal((await api('GET', '/v2/')).status, 200);
        assert.equal(
          (await api('GET', '/v2/frozen/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status,
          200,
        );
        assert.equal(
          (await api('HEAD', `/v2/frozen/app/manifests/${image.digest}`, { headers: { Accept: OCI_MANIFEST } })).status,
          200,
        );
        assert.deepEqual((await api('GET', `/v2/frozen/app/blobs/${image.config.digest}`)).body, image.config.content);
        assert.deepEqual((await api('GET', '/v2/frozen/app/tags/list')).json(), { name: 'frozen/app', tags: ['v1'] });
        assert.deepEqual((await api('GET', '/v2/_catalog')).json(), { repositories: ['frozen/app'] });
        assert.equal((await api('GET', uploadPath)).status, 204, 'upload status is a read');

        const blob = randomBlob(64);
        const writes: Array<[string, string, Buffer | undefined]> = [
          ['POST', '/v2/frozen/app/blobs/uploads/', undefined],
          ['POST', `/v2/frozen/app/blobs/uploads/?digest=${blob.digest}`, blob.content],
          ['POST', `/v2/other/blobs/uploads/?mount=${image.config.digest}&from=frozen/app`, undefined],
          ['PATCH', uploadPath, blob.content],
          ['PUT', `${uploadPath}?digest=${blob.digest}`, blob.content],
          ['DELETE', uploadPath, undefined],
          ['PUT', '/v2/frozen/app/manifests/v2', image.manifest],
          ['DELETE', `/v2/frozen/app/manifests/${image.digest}`, undefined],
          ['DELETE', `/v2/frozen/app/blobs/${image.config.digest}`, undefined],
        ];
        for (const [method, path, body] of writes) {
          const reply = await api(method, path, { body, headers: body ? { 'Content-Type': OCI_MANIFEST } : {} });
          assertError(reply, 405, 'UNSUPPORTED', `${method} ${path}`);
          assert.match(reply.json().errors[0].message, /read-only mode/, `${method} ${path}: the message says why`);
        }
        assert.deepEqual(listTree(root), before, 'nothing on disk changed');
      } finally {
        await server.close({ keepRoot: true });
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

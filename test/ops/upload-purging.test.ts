/**
 * `storage.maintenance.uploadpurging`: uploads older than `age` are deleted every `interval`
 * (dry run: only reported); recent uploads, images and tags are left alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { purgeUploads } from '../../src/registry/upload-purger.js';
import * as paths from '../../src/storage/paths.js';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { OCI_MANIFEST, makeImage, pushImage } from '../helpers/content.js';
import { client } from '../helpers/http.js';

const DAY = 24 * 3_600_000;

async function startUpload(server: TestBerth, name: string): Promise<{ uuid: string; path: string }> {
  const reply = await client(server.url)('POST', `/v2/${name}/blobs/uploads/`);
  assert.equal(reply.status, 202);
  const path = new URL(reply.header('location')!).pathname;
  return { uuid: path.slice(path.lastIndexOf('/') + 1), path };
}

async function backdate(server: TestBerth, name: string, uuid: string, days: number): Promise<void> {
  const when = new Date(Date.now() - days * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await server.berth.registry.driver.putContent(paths.uploadStartedAt(name, uuid), when);
}

async function uploadStatus(server: TestBerth, path: string): Promise<number> {
  return (await client(server.url)('GET', path)).status;
}

describe('upload purging', () => {
  it('deletes uploads older than the age, and only those; a dry run deletes nothing', async () => {
    const server = await startBerth({ config: { storage: { maintenance: { uploadpurging: { enabled: false } } } } });
    try {
      const image = makeImage();
      await pushImage(server.url, 'kept/image', 'v1', image);
      const old = await startUpload(server, 'team/app');
      const nested = await startUpload(server, 'team/app/nested');
      const recent = await startUpload(server, 'team/app');
      const undated = await startUpload(server, 'kept/image');
      await backdate(server, 'team/app', old.uuid, 8);
      await backdate(server, 'team/app/nested', nested.uuid, 30);
      await backdate(server, 'team/app', recent.uuid, 1);
      // Without a readable startedat, the folder's modification time counts.
      await server.berth.registry.driver.delete(paths.uploadStartedAt('kept/image', undated.uuid));
      const folder = join(server.root, paths.uploadFolder('kept/image', undated.uuid));
      const longAgo = new Date(Date.now() - 10 * DAY);
      utimesSync(folder, longAgo, longAgo);

      const driver = server.berth.registry.driver;
      const dryRun = await purgeUploads(driver, { age: 7 * DAY, dryRun: true });
      assert.deepEqual(
        dryRun.map((upload) => `${upload.name} ${upload.uuid}`).sort(),
        [`kept/image ${undated.uuid}`, `team/app ${old.uuid}`, `team/app/nested ${nested.uuid}`].sort(),
      );
      for (const upload of [old, nested, recent, undated])
        assert.equal(await uploadStatus(server, upload.path), 204, 'a dry run deletes nothing');

      const purged = await purgeUploads(driver, { age: 7 * DAY, dryRun: false });
      assert.equal(purged.length, 3);
      for (const upload of [old, nested, undated])
        assert.equal(await uploadStatus(server, upload.path), 404, `${upload.path} purged`);
      assert.equal(await uploadStatus(server, recent.path), 204, 'the recent upload is kept');
      const manifest = await client(server.url)('GET', '/v2/kept/image/manifests/v1', {
        headers: { Accept: OCI_MANIFEST },
      });
      assert.equal(manifest.status, 200, 'images are untouched');
      assert.deepEqual(await purgeUploads(driver, { age: 7 * DAY, dryRun: false }), [], 'a second run finds nothing');
    } finally {
      await server.close();
    }
  });

  it('runs on its own every interval once Berth listens', async () => {
    const server = await startBerth({
      config: { storage: { maintenance: { uploadpurging: { age: '1h', interval: '50ms' } } } },
    });
    try {
      assert.ok(server.berth.purger, 'purging is on');
      const upload = await startUpload(server, 'scheduled');
      await backdate(server, 'scheduled', upload.uuid, 1);
      for (let attempt = 0; attempt < 200 && (await uploadStatus(server, upload.path)) !== 404; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(await uploadStatus(server, upload.path), 404, 'the old upload was purged by the schedule');
    } finally {
      await server.close();
    }
  });

  it('is off when uploadpurging.enabled is false', async () => {
    const server = await startBerth({ config: { storage: { maintenance: { uploadpurging: { enabled: false } } } } });
    try {
      assert.equal(server.berth.purger, undefined);
    } finally {
      await server.close();
    }
  });
});

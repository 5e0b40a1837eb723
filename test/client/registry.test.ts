/**
 * The client library against real registries: Berth, and Distribution 2.8 (`docker-registry`)
 * without auth, with htpasswd (Basic) and with token (Bearer) auth. Every operation of the
 * `RegistryClient` class is exercised the same way on each.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClientError } from '../../src/client/errors.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { generatedStream } from '../helpers/http.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';
import { EMPTY_CONFIG, OCI_EMPTY, describe as describeDoc, makeArtifact, makeIndex } from '../helpers/manifests.js';
import { OCI_MANIFEST, randomBlob, sha256 } from '../helpers/content.js';
import { ALL_TARGETS, type RunningTarget } from '../helpers/targets.js';
import { describeUnless } from '../helpers/tools.js';

async function rejectsWith(promise: Promise<unknown>, kind: string): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.kind, kind, `kind of: ${error.message}`);
    return error;
  }
  assert.fail(`expected a ${kind} error`);
}

/** Hashes a stream to its sha256 digest and length, without keeping it. */
async function hashStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback();
      },
    }),
  );
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

for (const target of ALL_TARGETS) {
  describeUnless(target.missing(), `client library against ${target.name}`, () => {
    let running: RunningTarget;
    let registry: RegistryClient;
    before(async () => {
      running = await target.start();
      registry = new RegistryClient(running.host, { credentials: running.credentials ?? false });
    });
    after(async () => {
      registry?.close();
      await running?.close();
    });

    it('pings the API', async () => {
      const { apiVersion } = await registry.ping();
      assert.equal(apiVersion, 'registry/2.0');
    });

    it('pushes an image and reads it back by tag and by digest, byte for byte', async () => {
      const image = buildImage({ created: '2024-05-01T10:00:00Z' });
      await pushBuiltImage(registry, 'lib/app', 'v1', image);
      const byTag = await registry.getManifest('lib/app', 'v1');
      assert.equal(byTag.digest, image.digest);
      assert.equal(byTag.mediaType, OCI_MANIFEST);
      assert.deepEqual(byTag.bytes, image.manifest);
      const byDigest = await registry.getManifest('lib/app', image.digest);
      assert.deepEqual(byDigest.bytes, image.manifest);
      const head = await registry.headManifest('lib/app', 'v1');
      assert.deepEqual(head, { digest: image.digest, mediaType: OCI_MANIFEST, size: image.manifest.length });
      assert.equal(await registry.digest('lib/app', 'v1'), image.digest);
      for (const blob of image.blobs) {
        assert.deepEqual(await registry.getBlobBytes('lib/app', blob.digest), blob.content);
        assert.equal((await registry.headBlob('lib/app', blob.digest))?.size, blob.content.length);
      }
    });

    it('uploads blobs streamed with an unknown digest, in chunks, and big ones without buffering', async () => {
      const streamed = randomBlob(3000);
      const result = await registry.uploadBlob('lib/up', () =>
        Readable.from([streamed.content.subarray(0, 1000), streamed.content.subarray(1000)]),
      );
      assert.deepEqual(result, { digest: streamed.digest, size: 3000, mounted: false });
      assert.deepEqual(await registry.getBlobBytes('lib/up', streamed.digest), streamed.content);

      const chunked = randomBlob(2500);
      const chunkResult = await registry.uploadBlob('lib/up', chunked.content, { chunked: true, chunkSize: 1000 });
      assert.equal(chunkResult.digest, chunked.digest);
      assert.deepEqual(await registry.getBlobBytes('lib/up', chunked.digest), chunked.content);

      // 3 MiB generated on the fly: monolithic with a known digest, then chunked with an unknown one.
      const size = 3 * 1024 * 1024;
      const probe = generatedStream(size, 7);
      const { digest } = await hashStream(probe.stream);
      const big = await registry.uploadBlob('lib/up', () => generatedStream(size, 7).stream, { digest, size });
      assert.equal(big.digest, digest);
      const download = await registry.openBlob('lib/up', digest);
      assert.deepEqual(await hashStream(download.stream), { digest, size });
      const bigChunked = await registry.uploadBlob('lib/up2', () => generatedStream(size, 7).stream, {
        chunked: true,
        chunkSize: 1024 * 1024,
      });
      assert.deepEqual(bigChunked, { digest, size, mounted: false });
    });

    it('mounts a blob from another repository instead of uploading it', async () => {
      const blob = randomBlob(800);
      await registry.uploadBlob('lib/mount-source', blob.content);
      assert.equal(await registry.hasBlob('lib/mount-target', blob.digest), false);
      assert.equal(await registry.mountBlob('lib/mount-target', blob.digest, 'lib/mount-source'), true);
      assert.equal(await registry.hasBlob('lib/mount-target', blob.digest), true);
      const again = await registry.uploadBlob('lib/mount-other', blob.content, { mountFrom: 'lib/mount-source' });
      assert.equal(again.mounted, true);
      const missing = randomBlob(10);
      assert.equal(await registry.mountBlob('lib/mount-target', missing.digest, 'lib/mount-source'), false);
    });

    it('lists tags and repositories across pages (Link)', async () => {
      const image = buildImage();
      const tags = ['t1', 't2', 't3', 't4', 't5'];
      for (const tag of tags) await pushBuiltImage(registry, 'lib/paged', tag, image);
      // Distribution 2.8 neither pages nor sorts tag lists: compare as sets there.
      assert.deepEqual((await registry.tags('lib/paged', { pageSize: 2 })).sort(), tags);
      assert.deepEqual((await registry.tags('lib/paged')).sort(), tags);
      const all = await registry.catalog();
      assert.ok(all.includes('lib/paged') && all.includes('lib/app'), all.join(','));
      assert.deepEqual(await registry.catalog({ pageSize: 1 }), all);
    });

    it('deletes manifests and blobs, and tags where the registry supports it', async () => {
      const image = buildImage();
      await pushBuiltImage(registry, 'lib/del', 'a', image);
      await registry.putManifest('lib/del', 'b', image.manifest);
      if (running.deletesTags) {
        await registry.deleteTag('lib/del', 'a');
        assert.deepEqual(await registry.tags('lib/del'), ['b']);
        assert.equal((await registry.headManifest('lib/del', image.digest))?.digest, image.digest);
      } else {
        await rejectsWith(registry.deleteTag('lib/del', 'a'), 'unsupported');
      }
      await registry.deleteManifest('lib/del', image.digest);
      assert.equal(await registry.headManifest('lib/del', image.digest), undefined);
      assert.equal(await registry.headManifest('lib/del', 'b'), undefined);
      const layer = image.blobs[1]!;
      await registry.deleteBlob('lib/del', layer.digest);
      assert.equal(await registry.hasBlob('lib/del', layer.digest), false);
      await rejectsWith(registry.deleteManifest('lib/del', image.digest), 'not-found');
    });

    it('lists referrers (the API, or the tag schema where the registry has no API)', async () => {
      const image = buildImage();
      await pushBuiltImage(registry, 'lib/ref', 'v1', image);
      await registry.uploadBlob('lib/ref', EMPTY_CONFIG.content);
      const subject = { bytes: image.manifest, digest: image.digest, mediaType: image.mediaType };
      const signature = makeArtifact({ artifactType: 'application/vnd.example.signature', subject });
      const sbom = makeArtifact({ artifactType: 'application/vnd.example.sbom', subject });
      for (const artifact of [signature, sbom]) await registry.putManifest('lib/ref', artifact.digest, artifact.bytes);
      let referrers = await registry.referrers('lib/ref', image.digest);
      if (referrers.length === 0) {
        // No referrers API (Distribution 2.8): clients maintain the fallback tag, as the spec says.
        const index = makeIndex([
          describeDoc(signature, { artifactType: 'application/vnd.example.signature' }),
          describeDoc(sbom, { artifactType: 'application/vnd.example.sbom' }),
        ]);
        await registry.putManifest('lib/ref', image.digest.replace(':', '-'), index.bytes);
        referrers = await registry.referrers('lib/ref', image.digest);
      }
      assert.deepEqual(referrers.map((descriptor) => descriptor.digest).sort(), [signature.digest, sbom.digest].sort());
      const filtered = await registry.referrers('lib/ref', image.digest, {
        artifactType: 'application/vnd.example.sbom',
      });
      assert.deepEqual(
        filtered.map((descriptor) => descriptor.digest),
        [sbom.digest],
      );
      assert.equal(OCI_EMPTY, 'application/vnd.oci.empty.v1+json');
    });

    it('reports what does not exist as not-found', async () => {
      await rejectsWith(registry.getManifest('lib/app', 'no-such-tag'), 'not-found');
      await rejectsWith(registry.digest('lib/app', 'no-such-tag'), 'not-found');
      await rejectsWith(registry.tags('no/such/repository'), 'not-found');
      await rejectsWith(registry.getBlobBytes('lib/app', sha256('nothing')), 'not-found');
      assert.equal(await registry.headBlob('lib/app', sha256('nothing')), undefined);
    });

    if (target.auth) {
      it('refuses anonymous and wrong credentials with auth errors', async () => {
        const anonymous = new RegistryClient(running.host, { credentials: false });
        const wrong = new RegistryClient(running.host, { credentials: { username: 'alice', password: 'nope' } });
        try {
          const error = await rejectsWith(anonymous.tags('lib/app'), 'auth');
          assert.match(error.hint ?? '', /berth login/);
          await rejectsWith(wrong.tags('lib/app'), 'auth');
          await rejectsWith(wrong.ping(), 'auth');
        } finally {
          anonymous.close();
          wrong.close();
        }
      });
    }
  });
}

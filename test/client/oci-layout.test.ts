/**
 * The OCI image layout reader/writer behind `cp oci:DIR`: blobs are verified before they get
 * their name (nothing half-written or wrong stays behind), corrupt blobs fail when read, tags live
 * in index.json's ref-name annotations; and the copy engine's events, as the CLI's progress bars
 * consume them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyImage, type CopyEvent } from '../../src/client/copy.js';
import { LayoutEndpoint, RegistryEndpoint } from '../../src/client/endpoints.js';
import { ClientError } from '../../src/client/errors.js';
import { OciLayout } from '../../src/client/oci-layout.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { randomBlob, sha256 } from '../helpers/content.js';
import { buildImage, buildIndex, pushBuiltIndex } from '../helpers/images.js';

describe('OciLayout', () => {
  let folder: string;
  before(() => (folder = tempDir('oci-layout-')));
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('creates a layout and refuses to open a folder that is none', async () => {
    await assert.rejects(
      OciLayout.open(join(folder, 'missing')),
      (error) => error instanceof ClientError && error.kind === 'not-found',
    );
    const layout = await OciLayout.open(join(folder, 'new'), { create: true });
    assert.deepEqual(JSON.parse(readFileSync(join(layout.dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual((await layout.readIndex()).manifests, []);
  });

  it('writes a streamed blob only when its bytes match the digest, leaving nothing behind otherwise', async () => {
    const layout = await OciLayout.open(join(folder, 'blobs'), { create: true });
    const blob = randomBlob(5000);
    await layout.writeBlob(
      blob.digest,
      Readable.from([blob.content.subarray(0, 100), blob.content.subarray(100)]),
      5000,
    );
    assert.deepEqual(readFileSync(layout.blobPath(blob.digest)), blob.content);
    const wrong = sha256('something else');
    await assert.rejects(
      layout.writeBlob(wrong, Readable.from([blob.content])),
      (error) => error instanceof ClientError && error.kind === 'digest-mismatch',
    );
    await assert.rejects(
      layout.writeBlob(blob.digest.replace(/.$/, '0'), Readable.from([Buffer.from('x')]), 1),
      ClientError,
    );
    assert.deepEqual(readdirSync(join(layout.dir, 'blobs', 'sha256')), [blob.digest.slice(7)]);
  });

  it('fails reading a blob whose file was altered', async () => {
    const layout = await OciLayout.open(join(folder, 'corrupt'), { create: true });
    const blob = randomBlob(300);
    await layout.writeBlob(blob.digest, blob.content);
    writeFileSync(layout.blobPath(blob.digest), Buffer.concat([blob.content.subarray(1), Buffer.from('!')]));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await assert.rejects(
      pipeline(await layout.openBlob(blob.digest, 300), sink),
      (error) => error instanceof ClientError && error.kind === 'digest-mismatch',
    );
    await assert.rejects(
      layout.readBlob(blob.digest),
      (error) => error instanceof ClientError && error.kind === 'digest-mismatch',
    );
  });

  it('keeps one entry per tag in index.json, and untagged entries once per digest', async () => {
    const layout = await OciLayout.open(join(folder, 'tags'), { create: true });
    const descriptor = (digest: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: 10,
    });
    await layout.addManifest(descriptor(sha256('a')), 'v1');
    await layout.addManifest(descriptor(sha256('b')), 'v1');
    await layout.addManifest(descriptor(sha256('b')), 'v2');
    await layout.addManifest(descriptor(sha256('c')));
    await layout.addManifest(descriptor(sha256('c')));
    assert.deepEqual(await layout.tags(), ['v1', 'v2']);
    assert.equal((await layout.resolve('v1')).digest, sha256('b'));
    assert.equal((await layout.readIndex()).manifests.length, 3);
  });
});

describe('copyImage', () => {
  let berth: TestBerth;
  let folder: string;
  before(async () => {
    berth = await startBerth();
    folder = tempDir('copy-image-');
  });
  after(async () => {
    await berth.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('copies every platform of an index, children before parents, reporting each blob', async () => {
    const registry = new RegistryClient(berth.host);
    try {
      const index = buildIndex([buildImage({ layerSize: 70_000 }), buildImage({ architecture: 'arm64' })]);
      await pushBuiltIndex(registry, 'lib/multi', 'v1', index);
      const events: CopyEvent[] = [];
      const layout = await OciLayout.open(join(folder, 'out'), { create: true });
      const result = await copyImage(
        new RegistryEndpoint(registry, 'lib/multi'),
        'v1',
        new LayoutEndpoint(layout),
        'v1',
        { onEvent: (event) => events.push(event) },
      );
      assert.equal(result.digest, index.digest);
      assert.equal(result.manifests, 3);
      assert.equal(result.blobs.uploaded, 6);
      const manifests = events.filter((event) => event.type === 'manifest').map((event) => event.digest);
      assert.deepEqual(manifests, [index.images[0]!.digest, index.images[1]!.digest, index.digest]);
      const done = events.filter((event) => event.type === 'blob-done');
      assert.equal(done.length, 6);
      const progress = events.filter((event) => event.type === 'blob-progress');
      assert.ok(progress.length >= 6);
      assert.deepEqual(await layout.tags(), ['v1']);
      // Copying back into another repository of the same registry mounts every blob.
      const back = await copyImage(new LayoutEndpoint(layout), 'v1', new RegistryEndpoint(registry, 'lib/copy'), 'v1');
      assert.equal(back.blobs.uploaded, 6);
      const mounted = await copyImage(
        new RegistryEndpoint(registry, 'lib/copy'),
        'v1',
        new RegistryEndpoint(registry, 'lib/mounted'),
        undefined,
      );
      assert.deepEqual(mounted.blobs, { uploaded: 0, mounted: 6, existing: 0, skipped: 0 });
      assert.equal(await registry.digest('lib/mounted', index.digest), index.digest);
    } finally {
      registry.close();
    }
  });
});

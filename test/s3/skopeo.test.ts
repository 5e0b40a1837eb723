/**
 * The core's skopeo round trips with Berth on the S3 driver (Ceph's radosgw): OCI layouts copied
 * in and back out with identical manifest, index and blob digests, blob downloads following the
 * presigned redirect (and, in a second Berth, streamed through it), plus inspect, list-tags and
 * delete, as against the filesystem driver.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { OciLayout, sha256, type BuiltImage, type BuiltIndex } from '../helpers/oci-layout.js';
import { assertLayoutCopy, pullToLayout, pushLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';

const MIB = 1024 * 1024;

describeWithTools('skopeo against Berth on S3', [tools.skopeo(), ...cephTools()], () => {
  let ceph: CephCluster;
  let redirecting: TestBerth;
  let streaming: TestBerth;
  let source: OciLayout;
  let single: BuiltImage;
  let layered: BuiltImage;
  let multiPlatform: BuiltIndex;
  const folders = tempFolders();
  const folder = folders.make;

  before(async () => {
    ceph = await startCeph();
    const bucket = await ceph.createBucket();
    const storage = (redirect: boolean) => ({
      filesystem: undefined,
      s3: ceph.s3Config(bucket, { chunksize: 5 * MIB }),
      redirect: { disable: !redirect },
      maintenance: { uploadpurging: { enabled: false } },
    });
    // Two instances over the same bucket: one redirects blob downloads, one streams them.
    redirecting = await startBerth({ config: { storage: storage(true) } });
    streaming = await startBerth({ config: { storage: storage(false) } });
    source = await OciLayout.create(folder('skopeo-s3-source-'));
    single = await source.writeImage({ label: 'single' });
    await source.tag(single.manifest, 'single');
    const layers = [];
    for (let index = 0; index < 3; index++)
      layers.push(await source.writeLayer({ [`layer-${index}.txt`]: `layer ${index}\n`.repeat(100 * (index + 1)) }));
    layers.push(await source.writeRandomLayer(24 * MIB));
    layered = await source.writeImage({ layers, label: 'layered' });
    await source.tag(layered.manifest, 'layered');
    multiPlatform = await source.writeIndex([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    await source.tag(multiPlatform.index, 'multi');
  });

  after(async () => {
    await redirecting?.close();
    await streaming?.close();
    await ceph?.stop();
    await folders.removeAll();
  });

  async function roundTrip(tag: string, repository: string, options: { all?: boolean } = {}): Promise<void> {
    await pushLayout(source.dir, tag, `${redirecting.host}/${repository}:${tag}`, options);
    for (const berth of [redirecting, streaming]) {
      const out = folder('skopeo-s3-out-');
      await pullToLayout(`${berth.host}/${repository}:${tag}`, out, tag, options);
      await assertLayoutCopy(source.dir, out, [tag]);
    }
  }

  it('copies a single-layer image in and back out with identical digests', async () => {
    await roundTrip('single', 's3/single');
  });

  it('copies an image of several layers (one of 24 MiB) in and back out with identical digests', async () => {
    await roundTrip('layered', 's3/layered');
  });

  it('copies a linux/amd64 + linux/arm64 index with --all', async () => {
    await roundTrip('multi', 's3/multi', { all: true });
  });

  it('inspects, lists tags and deletes as against the filesystem driver', async () => {
    for (const tag of ['v1', 'v2']) await pushLayout(source.dir, 'single', `${streaming.host}/s3/ops:${tag}`);
    await pushLayout(source.dir, 'layered', `${streaming.host}/s3/ops:kept`);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${redirecting.host}/s3/ops:v1`]);
    assert.equal(sha256(raw.stdout), single.manifest.digest);
    const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${redirecting.host}/s3/ops`]);
    assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['kept', 'v1', 'v2']);
    await skopeo(['delete', '--tls-verify=false', `docker://${redirecting.host}/s3/ops:v1`]);
    const after = await skopeo(['list-tags', '--tls-verify=false', `docker://${streaming.host}/s3/ops`]);
    assert.deepEqual(
      (JSON.parse(after.stdout) as { Tags: string[] }).Tags,
      ['kept'],
      'deleting the digest removed both of its tags',
    );
    const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${streaming.host}/s3/ops:v2`], {
      allowFailure: true,
    });
    assert.notEqual(gone.code, 0);
  });
});

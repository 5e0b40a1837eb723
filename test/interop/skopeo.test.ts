/**
 * skopeo 1.9 against a real Berth: images built offline as OCI layouts are copied in and copied
 * back out to new layouts with identical manifest, index and blob digests (one layer, several
 * layers, a linux/amd64 + linux/arm64 index with --all, a 256 MiB incompressible layer), and
 * `skopeo inspect`, `list-tags` and `delete` behave as they do against Distribution.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { OciLayout, tarOf, sha256, type BuiltImage, type BuiltIndex } from '../helpers/oci-layout.js';
import { assertLayoutCopy, pullToLayout, pushLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';

const BIG_LAYER_BYTES = 256 * 1024 * 1024;

describeWithTools('skopeo against Berth', [tools.skopeo()], () => {
  let berth: TestBerth;
  let source: OciLayout;
  let single: BuiltImage;
  let layered: BuiltImage;
  let multiPlatform: BuiltIndex;
  const folders = tempFolders();
  const folder = folders.make;

  before(async () => {
    berth = await startBerth();
    source = await OciLayout.create(folder('skopeo-source-'));
    single = await source.writeImage({ label: 'single' });
    await source.tag(single.manifest, 'single');
    const layers = [];
    for (let index = 0; index < 4; index++)
      layers.push(await source.writeLayer({ [`layer-${index}.txt`]: `layer ${index}\n`.repeat(100 * (index + 1)) }));
    layered = await source.writeImage({ layers, label: 'layered' });
    await source.tag(layered.manifest, 'layered');
    multiPlatform = await source.writeIndex([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    await source.tag(multiPlatform.index, 'multi');
  });

  after(async () => {
    await berth.close();
    await folders.removeAll();
  });

  async function roundTrip(tag: string, repository: string, options: { all?: boolean } = {}): Promise<string> {
    await pushLayout(source.dir, tag, `${berth.host}/${repository}:${tag}`, options);
    const out = folder('skopeo-out-');
    await pullToLayout(`${berth.host}/${repository}:${tag}`, out, tag, options);
    await assertLayoutCopy(source.dir, out, [tag]);
    return out;
  }

  it('copies a single-layer image in and back out with identical digests', async () => {
    await roundTrip('single', 'interop/single');
  });

  it('copies an image of several layers in and back out with identical digests', async () => {
    await roundTrip('layered', 'interop/layered');
  });

  it('copies a linux/amd64 + linux/arm64 index with --all, and serves the index and both images', async () => {
    await roundTrip('multi', 'interop/multi', { all: true });
    const index = await fetch(`${berth.url}/v2/interop/multi/manifests/multi`, {
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('docker-content-digest'), multiPlatform.index.digest);
    assert.equal(index.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      Buffer.from(await index.arrayBuffer()),
      await readFile(source.blobPath(multiPlatform.index.digest)),
    );
    for (const image of multiPlatform.images) {
      const child = await fetch(`${berth.url}/v2/interop/multi/manifests/${image.manifest.digest}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(child.status, 200);
      await child.arrayBuffer();
    }
  });

  it('keeps an uncompressed tar layer as it is with --preserve-digests', async () => {
    const tar = tarOf({ 'plain.txt': 'not compressed\n' });
    const layer = {
      descriptor: await source.writeBlob(tar, 'application/vnd.oci.image.layer.v1.tar'),
      diffId: sha256(tar),
    };
    const image = await source.writeImage({ layers: [layer], label: 'plain-tar' });
    await source.tag(image.manifest, 'plain-tar');
    await pushLayout(source.dir, 'plain-tar', `${berth.host}/interop/plain:plain-tar`, {
      extra: ['--preserve-digests'],
    });
    const out = folder('skopeo-out-');
    // Both directions would gzip the layer (and so change the manifest) without the flag.
    await pullToLayout(`${berth.host}/interop/plain:plain-tar`, out, 'plain-tar', { extra: ['--preserve-digests'] });
    await assertLayoutCopy(source.dir, out, ['plain-tar']);
  });

  it('copies an image with a 256 MiB incompressible layer in and back out intact', async () => {
    const big = await OciLayout.create(folder('skopeo-big-'));
    const layer = await big.writeRandomLayer(BIG_LAYER_BYTES);
    assert.ok(layer.descriptor.size > BIG_LAYER_BYTES, 'stored gzip does not shrink random bytes');
    const image = await big.writeImage({ layers: [layer], label: 'big' });
    await big.tag(image.manifest, 'big');
    await pushLayout(big.dir, 'big', `${berth.host}/interop/big:big`);
    const head = await fetch(`${berth.url}/v2/interop/big/blobs/${layer.descriptor.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.descriptor.size));
    const out = folder('skopeo-big-out-');
    await pullToLayout(`${berth.host}/interop/big:big`, out, 'big');
    await assertLayoutCopy(big.dir, out, ['big']);
    // Two copies of 256 MiB are enough disk for one test.
    await rm(out, { recursive: true, force: true });
    await rm(big.dir, { recursive: true, force: true });
  });

  it('inspects --raw: the manifest and index bytes exactly as pushed', async () => {
    await pushLayout(source.dir, 'single', `${berth.host}/interop/inspect:single`);
    await pushLayout(source.dir, 'multi', `${berth.host}/interop/inspect:multi`, { all: true });
    for (const [tag, descriptor] of [
      ['single', single.manifest],
      ['multi', multiPlatform.index],
    ] as const) {
      const raw = await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${berth.host}/interop/inspect:${tag}`,
      ]);
      assert.equal(raw.stdout, await readFile(source.blobPath(descriptor.digest), 'utf8'), `${tag}: raw manifest`);
    }
    const config = await skopeo([
      'inspect',
      '--config',
      '--raw',
      '--tls-verify=false',
      `docker://${berth.host}/interop/inspect:single`,
    ]);
    assert.equal(config.stdout, await readFile(source.blobPath(single.config.digest), 'utf8'), 'raw config');
  });

  it('inspects: digest, tags, platform, labels and layers', async () => {
    await pushLayout(source.dir, 'single', `${berth.host}/interop/inspect:also-single`);
    const result = await skopeo(['inspect', '--tls-verify=false', `docker://${berth.host}/interop/inspect:single`]);
    const info = JSON.parse(result.stdout) as {
      Name: string;
      Digest: string;
      RepoTags: string[];
      Architecture: string;
      Os: string;
      Labels: Record<string, string>;
      Layers: string[];
    };
    assert.equal(info.Name, `${berth.host}/interop/inspect`);
    assert.equal(info.Digest, single.manifest.digest);
    assert.deepEqual([...info.RepoTags].sort(), ['also-single', 'multi', 'single']);
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Labels['test.label'], 'single');
    assert.deepEqual(
      info.Layers,
      single.layers.map((layer) => layer.descriptor.digest),
    );
  });

  it('lists tags', async () => {
    for (const tag of ['v1', 'v2', 'latest'])
      await pushLayout(source.dir, 'single', `${berth.host}/interop/tags:${tag}`);
    const result = await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/interop/tags`]);
    const listed = JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
    assert.equal(listed.Repository, `${berth.host}/interop/tags`);
    assert.deepEqual(listed.Tags, ['latest', 'v1', 'v2']);
  });

  it('deletes an image: its tag and digest then answer 404, other tags stay', async () => {
    await pushLayout(source.dir, 'single', `${berth.host}/interop/delete:gone`);
    await pushLayout(source.dir, 'layered', `${berth.host}/interop/delete:kept`);
    await skopeo(['delete', '--tls-verify=false', `docker://${berth.host}/interop/delete:gone`]);
    for (const reference of ['gone', single.manifest.digest]) {
      const response = await fetch(`${berth.url}/v2/interop/delete/manifests/${reference}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(response.status, 404, reference);
      const body = (await response.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0]?.code, 'MANIFEST_UNKNOWN');
    }
    const inspect = await skopeo(
      ['inspect', '--raw', '--tls-verify=false', `docker://${berth.host}/interop/delete:gone`],
      {
        allowFailure: true,
      },
    );
    assert.notEqual(inspect.code, 0, 'skopeo inspect of a deleted image fails');
    assert.match(inspect.stderr, /manifest unknown/i);
    const kept = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${berth.host}/interop/delete:kept`]);
    assert.equal(sha256(kept.stdout), layered.manifest.digest);
    const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/interop/delete`]);
    assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['kept']);
    const config = await fetch(`${berth.url}/v2/interop/delete/blobs/${layered.config.digest}`);
    assert.equal(config.status, 200, 'the surviving image still pulls');
    assert.deepEqual(Buffer.from(await config.arrayBuffer()), await readFile(source.blobPath(layered.config.digest)));
  });
});

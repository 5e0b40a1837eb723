/**
 * Storage layout compatibility with CNCF Distribution 2.8 (Debian's docker-registry), both ways:
 * images pushed to one registry are served intact by the other after it starts on the same
 * storage folder. "Intact" means skopeo copies every image out to an OCI layout with the same
 * manifest, index and blob digests, the catalog is the same list, each repository has the same
 * tags, moved tags point where they last pointed, and deleted images stay deleted.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { DOCKER_MANIFEST, makeImage, pushBlob, pushImage, pushManifest, type Image } from '../helpers/content.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { EMPTY_CONFIG, makeArtifact } from '../helpers/manifests.js';
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js';
import { assertLayoutCopy, pullToLayout, pushLayout } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';

interface Registry {
  url: string;
  host: string;
}

/** What a pushed set of images should look like from any registry serving it. */
interface Expected {
  /** Each pushed reference, the source layout's tag it holds, and whether that is an index (--all). */
  images: Array<{ repository: string; tag: string; layoutTag: string; all: boolean }>;
  deleted: Array<{ repository: string; digest: string }>;
  docker: { repository: string; tag: string; image: Image };
}

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}: ${response.status}`);
  return (await response.json()) as T;
}

/** The catalog and every repository's tags (sorted: TestDockerRegistry 2.8 lists tags in directory order). */
async function listing(registry: Registry): Promise<{ repositories: string[]; tags: Record<string, string[]> }> {
  const { repositories } = await json<{ repositories: string[] }>(`${registry.url}/v2/_catalog`);
  const tags: Record<string, string[]> = {};
  for (const repository of repositories) {
    const response = await fetch(`${registry.url}/v2/${repository}/tags/list`);
    // Distribution 2.8 answers 404 for a repository without a tags folder and {"tags": null} for
    // one whose tags are all gone; both are recorded as "no tags" (python-requests.test.ts pins
    // these differences down).
    tags[repository] =
      response.status === 200 ? [...(((await response.json()) as { tags: string[] | null }).tags ?? [])].sort() : [];
    if (response.status !== 200) await response.arrayBuffer();
  }
  return { repositories, tags };
}

describeWithTools('storage layout compatibility with Distribution 2.8', [tools.skopeo(), tools.distribution()], () => {
  let source: OciLayout;
  let single: BuiltImage;
  let replaced: BuiltImage;
  const folders = tempFolders();
  const folder = folders.make;

  before(async () => {
    source = await OciLayout.create(folder('compat-source-'));
    single = await source.writeImage({ label: 'single' });
    await source.tag(single.manifest, 'single');
    const layers = [];
    for (let index = 0; index < 3; index++)
      layers.push(await source.writeLayer({ [`file-${index}`]: `content ${index}\n`.repeat(50) }));
    const layered = await source.writeImage({ layers, label: 'layered' });
    await source.tag(layered.manifest, 'layered');
    const multi = await source.writeIndex([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    await source.tag(multi.index, 'multi');
    replaced = await source.writeImage({ label: 'replaced' });
    await source.tag(replaced.manifest, 'replaced');
  });

  after(async () => {
    await folders.removeAll();
  });

  /**
   * Pushes the same set to any registry: skopeo for the OCI images (one repository with a deep
   * name), a tag moved from one image to another, an image deleted, and a Docker v2 schema 2
   * image pushed over HTTP.
   */
  async function pushSet(registry: Registry): Promise<Expected> {
    const images: Expected['images'] = [
      { repository: 'compat/single', tag: 'v1', layoutTag: 'single', all: false },
      { repository: 'compat/single', tag: 'latest', layoutTag: 'single', all: false },
      { repository: 'compat/deep/nested/layered', tag: '3-layers', layoutTag: 'layered', all: false },
      { repository: 'compat/multi', tag: 'latest', layoutTag: 'multi', all: true },
      // Pushed first as `replaced`, then moved to `layered`: the tag's current link must win.
      { repository: 'compat/moved', tag: 'stable', layoutTag: 'layered', all: false },
    ];
    await pushLayout(source.dir, 'replaced', `${registry.host}/compat/moved:stable`);
    for (const image of images) {
      await pushLayout(source.dir, image.layoutTag, `${registry.host}/${image.repository}:${image.tag}`, {
        all: image.all,
      });
    }
    await pushLayout(source.dir, 'replaced', `${registry.host}/compat/deleted:gone`);
    const removed = await fetch(`${registry.url}/v2/compat/deleted/manifests/${replaced.manifest.digest}`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 202, 'delete by digest');
    const docker = {
      repository: 'compat/docker',
      tag: 'v2s2',
      image: makeImage({ mediaType: DOCKER_MANIFEST, layers: 2 }),
    };
    await pushImage(registry.url, docker.repository, docker.tag, docker.image);
    return {
      images,
      deleted: [{ repository: 'compat/deleted', digest: replaced.manifest.digest }],
      docker,
    };
  }

  /** Asserts that `registry` serves everything `expected` describes, intact. */
  async function assertServes(registry: Registry, expected: Expected): Promise<void> {
    for (const image of expected.images) {
      const out = folder('compat-out-');
      await pullToLayout(`${registry.host}/${image.repository}:${image.tag}`, out, image.layoutTag, { all: image.all });
      await assertLayoutCopy(source.dir, out, [image.layoutTag]);
    }
    for (const { repository, digest } of expected.deleted) {
      const response = await fetch(`${registry.url}/v2/${repository}/manifests/${digest}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      await response.arrayBuffer();
      assert.equal(response.status, 404, `deleted ${repository}@${digest}`);
    }
    const { repository, tag, image } = expected.docker;
    const manifest = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
      headers: { Accept: DOCKER_MANIFEST },
    });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), image.digest);
    assert.equal(manifest.headers.get('content-type'), DOCKER_MANIFEST);
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
    for (const blob of [image.config, ...image.layers]) {
      const response = await fetch(`${registry.url}/v2/${repository}/blobs/${blob.digest}`);
      assert.equal(response.status, 200);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.content);
    }
  }

  it('Distribution serves intact what Berth stored', async () => {
    const root = folder('compat-berth-root-');
    const berth: TestBerth = await startBerth({ root });
    try {
      const expected = await pushSet(berth);
      // A referrer: Berth indexes it under _referrers/, a folder Distribution must skip.
      await pushBlob(berth.url, 'compat/single', EMPTY_CONFIG);
      const subject = {
        bytes: await readFile(source.blobPath(single.manifest.digest)),
        digest: single.manifest.digest,
        mediaType: single.manifest.mediaType,
      };
      const artifact = makeArtifact({ artifactType: 'application/vnd.example.sbom', subject });
      const pushed = await pushManifest(
        berth.url,
        'compat/single',
        artifact.digest,
        artifact.bytes,
        artifact.mediaType,
      );
      assert.equal(pushed.status, 201);
      const before = await listing(berth);
      const referrers = await json<{ manifests: Array<{ digest: string }> }>(
        `${berth.url}/v2/compat/single/referrers/${single.manifest.digest}`,
      );
      assert.deepEqual(
        referrers.manifests.map((entry) => entry.digest),
        [artifact.digest],
      );
      await berth.close({ keepRoot: true });

      const distribution: TestDockerRegistry = await startDockerRegistry({ root });
      try {
        assert.deepEqual(await listing(distribution), before, 'catalog and tags');
        await assertServes(distribution, expected);
        const served = await fetch(`${distribution.url}/v2/compat/single/manifests/${artifact.digest}`, {
          headers: { Accept: artifact.mediaType },
        });
        assert.equal(served.status, 200, 'the referrer manifest');
        assert.deepEqual(Buffer.from(await served.arrayBuffer()), artifact.bytes);
      } catch (error) {
        console.error(`docker-registry log:\n${distribution.log()}`);
        throw error;
      } finally {
        await distribution.close();
      }
    } finally {
      await berth.close({ keepRoot: true }).catch(() => undefined);
    }
  });

  it('Berth serves intact what Distribution stored', async () => {
    const root = folder('compat-distribution-root-');
    const distribution = await startDockerRegistry({ root });
    let expected: Expected;
    let before: Awaited<ReturnType<typeof listing>>;
    try {
      expected = await pushSet(distribution);
      before = await listing(distribution);
    } catch (error) {
      console.error(`docker-registry log:\n${distribution.log()}`);
      throw error;
    } finally {
      await distribution.close();
    }

    const berth = await startBerth({ root });
    try {
      assert.deepEqual(await listing(berth), before, 'catalog and tags');
      await assertServes(berth, expected);
    } finally {
      await berth.close();
    }
  });
});

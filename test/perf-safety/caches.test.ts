/**
 * The caches that make reads fast never serve what storage no longer says: a deleted manifest, a
 * moved tag, a stale tag list or catalog. Two Berth instances over one storage folder stand in for
 * the worker processes of `berth serve` (and for several instances sharing storage): what one
 * writes, the other must see on its next request.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage, OCI_MANIFEST } from '../helpers/content.js';

const V2 = 'docker/registry/v2';

async function getManifest(
  url: string,
  name: string,
  reference: string,
): Promise<{ status: number; digest: string | null }> {
  const response = await fetch(`${url}/v2/${name}/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
  await response.arrayBuffer();
  return { status: response.status, digest: response.headers.get('docker-content-digest') };
}

async function tags(url: string, name: string): Promise<string[]> {
  const response = await fetch(`${url}/v2/${name}/tags/list`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { tags: string[] }).tags;
}

async function catalog(url: string): Promise<string[]> {
  const response = await fetch(`${url}/v2/_catalog`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { repositories: string[] }).repositories;
}

/** Makes a tags folder look long settled, so the tag-list cache keeps what it reads next. */
function settle(root: string, name: string): void {
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(root, V2, 'repositories', name, '_manifests/tags'), past, past);
}

describe('caches stay correct across processes sharing storage', () => {
  const root = tempDir();
  let reader: TestBerth;
  let writer: TestBerth;
  before(async () => {
    reader = await startBerth({ root });
    writer = await startBerth({ root });
  });
  after(async () => {
    await reader.close();
    await writer.close();
  });

  it('never serves a manifest deleted by another process, even one it has cached', async () => {
    const image = makeImage();
    await pushImage(writer.url, 'cache/deleted', 'v1', image);
    assert.equal((await getManifest(reader.url, 'cache/deleted', image.digest)).status, 200); // now cached
    assert.equal((await getManifest(reader.url, 'cache/deleted', 'v1')).status, 200);
    const removed = await fetch(`${writer.url}/v2/cache/deleted/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(removed.status, 202);
    assert.equal((await getManifest(reader.url, 'cache/deleted', image.digest)).status, 404);
    assert.equal((await getManifest(reader.url, 'cache/deleted', 'v1')).status, 404);
    // Pushed again, it is served again.
    await pushImage(writer.url, 'cache/deleted', 'v1', image);
    assert.equal((await getManifest(reader.url, 'cache/deleted', 'v1')).digest, image.digest);
  });

  it('follows a tag moved by another process', async () => {
    const first = makeImage();
    const second = makeImage();
    await pushImage(writer.url, 'cache/moved', 'latest', first);
    assert.equal((await getManifest(reader.url, 'cache/moved', 'latest')).digest, first.digest);
    await pushImage(writer.url, 'cache/moved', 'latest', second);
    assert.equal((await getManifest(reader.url, 'cache/moved', 'latest')).digest, second.digest);
    assert.equal((await getManifest(reader.url, 'cache/moved', first.digest)).status, 200);
  });

  it('lists tags added and removed by another process, and by a registry that knows nothing of the cache', async () => {
    const image = makeImage();
    await pushImage(writer.url, 'cache/tags', 'a', image);
    await pushImage(writer.url, 'cache/tags', 'b', image);
    settle(root, 'cache/tags');
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'b']);
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'b']); // served from the cache

    await pushImage(writer.url, 'cache/tags', 'c', image);
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'b', 'c']);

    settle(root, 'cache/tags');
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'b', 'c']);
    const untag = await fetch(`${writer.url}/v2/cache/tags/manifests/b`, { method: 'DELETE' });
    assert.equal(untag.status, 202);
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'c']);

    // A tag written straight into the folder, as Distribution would write it.
    settle(root, 'cache/tags');
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'c']);
    const current = join(root, V2, 'repositories/cache/tags/_manifests/tags/d/current');
    mkdirSync(current, { recursive: true });
    writeFileSync(join(current, 'link'), image.digest);
    assert.deepEqual(await tags(reader.url, 'cache/tags'), ['a', 'c', 'd']);
  });

  it('lists a repository created by another process on the next catalog request', async () => {
    const before = await catalog(reader.url);
    assert.ok(!before.includes('cache/new'));
    assert.deepEqual(await catalog(reader.url), before); // the cached walk
    await pushImage(writer.url, 'cache/new', 'latest', makeImage());
    assert.ok((await catalog(reader.url)).includes('cache/new'));
    // A repository made by pushing only a blob (a layer link, no manifest) counts too.
    const blobOnly = makeImage({ layers: 1 });
    const start = await fetch(`${writer.url}/v2/cache/blob-only/blobs/uploads/?digest=${blobOnly.layers[0]!.digest}`, {
      method: 'POST',
      body: blobOnly.layers[0]!.content as unknown as BodyInit,
    });
    assert.equal(start.status, 201);
    assert.ok((await catalog(reader.url)).includes('cache/blob-only'));
  });
});

/**
 * A crash between a tag's two link writes (history link, then current link) leaves a tag folder
 * naming nothing. `tags/list` lists only tags that resolve, also from its cached listing; the
 * next push of that tag repairs it; a collection run removes such a folder once it is old.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage, pushManifest } from '../helpers/content.js';
import { client } from '../helpers/http.js';
import { listTree, repositoryPath } from '../helpers/files.js';
import { adminGc } from '../gc/support.js';

/** What a crash right after the history link of `tag` leaves. */
function halfWrittenTag(root: string, name: string, tag: string, digest: string, ageMs = 0): string {
  const folder = join(repositoryPath(root, name), '_manifests', 'tags', tag);
  const [algorithm, hex] = digest.split(':') as [string, string];
  const index = join(folder, 'index', algorithm, hex);
  mkdirSync(index, { recursive: true });
  writeFileSync(join(index, 'link'), digest);
  if (ageMs > 0) {
    const when = new Date(Date.now() - ageMs);
    for (const entry of ['', ...listTree(folder)]) utimesSync(join(folder, entry), when, when);
  }
  return folder;
}

async function tagList(url: string, name: string): Promise<string[]> {
  const reply = await client(url)('GET', `/v2/${name}/tags/list`);
  assert.equal(reply.status, 200);
  return (JSON.parse(reply.text()) as { tags: string[] }).tags;
}

describe('half-written tags', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { berth: { gc: { graceperiod: '0s' } } } })));
  after(() => server.close());

  it('tags/list lists only tags that resolve, and the next push of the tag repairs it', async () => {
    const name = 'phantom/list';
    const image = makeImage();
    await pushImage(server.url, name, 'v1', image);
    halfWrittenTag(server.root, name, 'ghost', image.digest);
    assert.equal((await client(server.url)('GET', `/v2/${name}/manifests/ghost`)).status, 404);
    assert.deepEqual(await tagList(server.url, name), ['v1']);
    // Let the tags folder look settled, so the listing is served from the cache from now on.
    const tagsRoot = join(repositoryPath(server.root, name), '_manifests', 'tags');
    const past = new Date(Date.now() - 60_000);
    utimesSync(tagsRoot, past, past);
    assert.deepEqual(await tagList(server.url, name), ['v1']);
    assert.deepEqual(await tagList(server.url, name), ['v1'], 'the cached listing leaves it out too');
    const repaired = await pushManifest(server.url, name, 'ghost', image.manifest, image.mediaType);
    assert.equal(repaired.status, 201);
    assert.deepEqual(await tagList(server.url, name), ['ghost', 'v1']);
    assert.equal((await client(server.url)('GET', `/v2/${name}/manifests/ghost`)).status, 200);
  });

  it('a collection run removes an old half-written tag and leaves a fresh one (a write may be under way)', async () => {
    const name = 'phantom/gc';
    const image = makeImage();
    await pushImage(server.url, name, 'v1', image);
    const old = halfWrittenTag(server.root, name, 'crashed', image.digest, 10 * 60_000);
    const fresh = halfWrittenTag(server.root, name, 'writing', image.digest);
    const report = await adminGc(server.url);
    assert.equal(report.phantomTagsRemoved, 1);
    assert.equal(existsSync(old), false, 'the old half-written tag is gone');
    assert.equal(existsSync(fresh), true, 'a fresh one is left to its writer');
    assert.deepEqual(await tagList(server.url, name), ['v1']);
    assert.equal((await client(server.url)('GET', `/v2/${name}/manifests/v1`)).status, 200);
  });
});

/**
 * The filesystem driver's repository index (src/storage/filesystem/repository-index.ts): what it
 * holds after writes and deletes, after a crash (index removed, entries missing or left over),
 * with repositories Distribution created in the same folder, and catalog pages equal to a walk.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../../src/api/reference.js';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.js';
import * as paths from '../../src/storage/paths.js';
import { startBerth, tempFolders } from '../helpers/berth.js';
import { dockerRegistryMissing, startDockerRegistry } from '../helpers/docker-registry.js';
import { createHash, randomBytes } from 'node:crypto';

const folders = tempFolders();
after(() => folders.removeAll());

const V2 = 'docker/registry/v2';
const DIGEST = (parseDigest(`sha256:${'ab'.repeat(32)}`) as { ok: true; digest: Digest }).digest;

function indexEntries(root: string): string[] {
  const folder = join(root, V2, '_berth/catalog/repositories');
  return existsSync(folder) ? readdirSync(folder).sort() : [];
}

/** Every repository of the folder, found as Distribution finds them: a walk of `repositories/`. */
function walk(root: string, prefix = ''): string[] {
  const folder = join(root, V2, 'repositories', prefix);
  if (!existsSync(folder)) return [];
  const children = readdirSync(folder);
  const names: string[] = [];
  if (prefix && children.some((child) => child === '_layers' || child === '_manifests')) names.push(prefix);
  for (const child of children) {
    if (child.startsWith('_') || !statSync(join(folder, child)).isDirectory()) continue;
    names.push(...walk(root, prefix ? `${prefix}/${child}` : child));
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A repository written straight into the folder, as Distribution (or a copy by hand) writes it. */
function writeByHand(root: string, name: string): void {
  const folder = join(root, V2, 'repositories', name, '_layers/sha256', DIGEST.hex);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'link'), DIGEST.value);
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within 20 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Makes `name` a repository over HTTP by pushing one blob (Distribution 2.8 lists only repositories with `_layers`). */
async function pushBlob(url: string, name: string): Promise<void> {
  const content = randomBytes(64);
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const start = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  const reply = await fetch(location, { method: 'PUT', body: content });
  assert.equal(reply.status, 201, `push to ${name}: ${await reply.text()}`);
}

async function catalogPages(url: string, n: number): Promise<string[]> {
  const seen: string[] = [];
  let path: string | undefined = `/v2/_catalog?n=${n}`;
  while (path) {
    const reply: Response = await fetch(`${url}${path}`);
    assert.equal(reply.status, 200);
    seen.push(...((await reply.json()) as { repositories: string[] }).repositories);
    const link = reply.headers.get('link');
    path = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
  }
  return seen;
}

describe('filesystem repository index', () => {
  it('gains an entry with the link that makes a repository, nested names included', async () => {
    const root = folders.make('berth-index-');
    const driver = new FilesystemDriver({ rootdirectory: root });
    assert.deepEqual(await driver.repositoryIndex.all(), []);
    for (const name of ['b', 'a/b/c', 'a', 'a-b', 'a_b'])
      await driver.putContent(paths.layerLink(name, DIGEST), DIGEST.value);
    // A write that creates no repository (an upload's start time) adds nothing.
    await driver.putContent(paths.uploadStartedAt('u', 'f3e6c1a2-0000-4000-8000-000000000000'), 'now');
    assert.deepEqual(indexEntries(root), ['a', 'a-b', 'a:b:c', 'a_b', 'b']);
    assert.deepEqual(await driver.repositoryIndex.all(), ['a', 'a-b', 'a/b/c', 'a_b', 'b']);
  });

  it('drops the entries of repositories deleted through the driver, and only those', async () => {
    const root = folders.make('berth-index-');
    const driver = new FilesystemDriver({ rootdirectory: root });
    for (const name of ['x', 'x/y', 'x/y/z', 'xy', 'keep'])
      await driver.putContent(paths.layerLink(name, DIGEST), DIGEST.value);
    await driver.putContent(paths.tagCurrentLink('keep', 'latest'), DIGEST.value);
    await driver.repositoryIndex.all();
    await driver.delete(paths.repository('x/y'));
    assert.deepEqual(await driver.repositoryIndex.all(), ['keep', 'x', 'xy']);
    // Removing a tag or a layer link leaves the repository (its _manifests or _layers folder stays).
    await driver.delete(paths.tagFolder('keep', 'latest'));
    await driver.delete(paths.layerLink('keep', DIGEST));
    assert.deepEqual(await driver.repositoryIndex.all(), ['keep', 'x', 'xy']);
    await driver.delete(paths.REPOSITORIES_ROOT);
    assert.deepEqual(await driver.repositoryIndex.all(), []);
  });

  it('is seen by another process on its next listing', async () => {
    const root = folders.make('berth-index-');
    const first = new FilesystemDriver({ rootdirectory: root });
    const second = new FilesystemDriver({ rootdirectory: root });
    await first.putContent(paths.layerLink('one', DIGEST), DIGEST.value);
    assert.deepEqual(await second.repositoryIndex.all(), ['one']);
    await first.putContent(paths.layerLink('two', DIGEST), DIGEST.value);
    assert.deepEqual(await second.repositoryIndex.all(), ['one', 'two']);
    await first.delete(paths.repository('one'));
    assert.deepEqual(await second.repositoryIndex.all(), ['two']);
  });

  it('is rebuilt from a walk when it was removed, before the listing answers', async () => {
    const root = folders.make('berth-index-');
    const driver = new FilesystemDriver({ rootdirectory: root });
    for (const name of ['p', 'q/r']) await driver.putContent(paths.layerLink(name, DIGEST), DIGEST.value);
    writeByHand(root, 'by/hand');
    rmSync(join(root, V2, '_berth/catalog'), { recursive: true });
    const restarted = new FilesystemDriver({ rootdirectory: root });
    assert.deepEqual(await restarted.repositoryIndex.all(), ['by/hand', 'p', 'q/r']);
    assert.deepEqual(indexEntries(root), ['by:hand', 'p', 'q:r']);
  });

  it('after a crash (an entry missing, one left over), is put right by the verification a restart starts', async () => {
    const root = folders.make('berth-index-');
    const driver = new FilesystemDriver({ rootdirectory: root });
    for (const name of ['kept', 'gone']) await driver.putContent(paths.layerLink(name, DIGEST), DIGEST.value);
    await driver.repositoryIndex.all();
    // A process stopped between a link and its entry; a repository removed by hand.
    writeByHand(root, 'crashed/before-entry');
    rmSync(join(root, V2, 'repositories/gone'), { recursive: true });
    const restarted = new FilesystemDriver({ rootdirectory: root });
    await restarted.repositoryIndex.all(); // answers from the index and starts the verification
    await eventually(
      async () => (await restarted.repositoryIndex.all()).join() === 'crashed/before-entry,kept',
      'the index agrees with the folder',
    );
    assert.deepEqual(indexEntries(root), ['crashed:before-entry', 'kept']);
  });

  it('ignores a snapshot that does not match the entries folder', async () => {
    const root = folders.make('berth-index-');
    const driver = new FilesystemDriver({ rootdirectory: root });
    await driver.putContent(paths.layerLink('real', DIGEST), DIGEST.value);
    await driver.repositoryIndex.all();
    writeFileSync(join(root, V2, '_berth/catalog/snapshot'), '12345\nstale/name\n');
    const restarted = new FilesystemDriver({ rootdirectory: root });
    assert.deepEqual(await restarted.repositoryIndex.all(), ['real']);
  });
});

describe('catalog over the index', () => {
  it('pages exactly as a walk of the folder lists, with any page size', async () => {
    const root = folders.make('berth-index-http-');
    const names: string[] = [];
    for (let index = 0; index < 150; index += 1) {
      names.push(`ns${index % 3}/r${index}`, ...(index % 10 === 0 ? [`ns${index % 3}/r${index}/nested`] : []));
    }
    const writer = new FilesystemDriver({ rootdirectory: root });
    for (const name of names) await writer.putContent(paths.layerLink(name, DIGEST), DIGEST.value);
    const server = await startBerth({ root });
    try {
      const expected = walk(root);
      assert.equal(expected.length, names.length);
      for (const n of [1, 7, 100, 1000]) assert.deepEqual(await catalogPages(server.url, n), expected, `n=${n}`);
      const reply = await fetch(`${server.url}/v2/_catalog?n=5&last=ns1/r100`);
      assert.deepEqual(
        ((await reply.json()) as { repositories: string[] }).repositories,
        expected.filter((name) => name > 'ns1/r100').slice(0, 5),
      );
    } finally {
      await server.close({ keepRoot: true });
    }
  });

  it('lists repositories Distribution created in the same folder, and Distribution lists Berth’s', async (t) => {
    if (dockerRegistryMissing()) return t.skip('docker-registry is not installed');
    const root = folders.make('berth-index-dist-');
    let berth = await startBerth({ root });
    await pushBlob(berth.url, 'berth/made');
    assert.deepEqual(await catalogPages(berth.url, 100), ['berth/made']);
    await berth.close({ keepRoot: true });

    const distribution = await startDockerRegistry({ root });
    try {
      await pushBlob(distribution.url, 'dist/made');
      assert.deepEqual(await catalogPages(distribution.url, 100), ['berth/made', 'dist/made']);
    } finally {
      await distribution.close();
    }
    assert.deepEqual(indexEntries(root), ['berth:made'], 'Distribution wrote no index entry');

    berth = await startBerth({ root });
    try {
      await eventually(
        async () => (await catalogPages(berth.url, 100)).join() === 'berth/made,dist/made',
        'the repository Distribution created is listed',
      );
    } finally {
      await berth.close({ keepRoot: true });
    }
  });
});

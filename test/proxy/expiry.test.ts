/**
 * Expiry and the size cap of the pull-through cache, through online garbage collection: content
 * pulled within the TTL stays, content not pulled for longer is removed and its bytes leave the
 * disk, and past `berth.proxy.maxsize` the least recently pulled image goes first. A removed
 * image is fetched again on the next pull.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { repositoryPath } from '../helpers/files.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { assertLayoutCopy, pullToLayout } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

/** Long enough that nothing expires while a step of the test runs, however loaded the machine. */
const TTL_MS = 5_000;
const LAYER_BYTES = 256 * 1024;

function blobOnDisk(root: string, digest: string): boolean {
  const hex = digest.slice('sha256:'.length);
  return existsSync(join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'));
}

function layersOnDisk(root: string, image: UpstreamImage): boolean[] {
  return image.blobs.map((digest) => blobOnDisk(root, digest));
}

/**
 * Makes every cache record of repository `name` look pulled `ageMs` ago: a record's modification
 * time is when it was last pulled (src/registry/proxy/records.ts), so this ages it as time would.
 */
function agePulls(root: string, name: string, ageMs: number): void {
  const folder = join(repositoryPath(root, name), '_proxy');
  const when = new Date(Date.now() - ageMs);
  for (const algorithm of readdirSync(folder))
    for (const hex of readdirSync(join(folder, algorithm))) utimesSync(join(folder, algorithm, hex), when, when);
}

describeWithTools('pull-through cache expiry and size cap', [tools.skopeo(), tools.distribution()], () => {
  const folders = tempFolders();
  let upstream: TestDockerRegistry;
  let first: UpstreamImage;
  let second: UpstreamImage;
  let third: UpstreamImage;

  before(async () => {
    upstream = await startUpstream();
    const images = folders.make('proxy-expiry-images-');
    first = await pushUpstreamImage(upstream, images, 'team/first', 'v1', { layerSize: LAYER_BYTES });
    second = await pushUpstreamImage(upstream, images, 'team/second', 'v1', { layerSize: LAYER_BYTES });
    third = await pushUpstreamImage(upstream, images, 'team/third', 'v1', { layerSize: LAYER_BYTES });
  });

  after(async () => {
    await upstream?.close();
    await folders.removeAll();
  });

  it("Distribution's proxy.ttl: pulled again within it stays, unpulled past it is collected and fetched anew", async () => {
    let cache: TestBerth | undefined;
    try {
      cache = await startBerth({
        config: { proxy: { remoteurl: upstream.url, ttl: `${TTL_MS}ms` }, berth: { gc: { graceperiod: '0s' } } },
      });
      await pullToLayout(`${cache.host}/team/first:v1`, folders.make('proxy-ttl-'), 'v1');
      // The cache's copy is written beside the stream to the client, and may finish just after it.
      await eventually(() => layersOnDisk(cache!.root, first).every(Boolean), 'the pulled layers are stored');
      // Pulled first longer than the TTL ago, then again now: it is kept.
      agePulls(cache.root, 'team/first', TTL_MS + 1_000);
      // A process rewrites a record at most once per tenth of the TTL (records.ts).
      await sleep(TTL_MS / 10);
      await pullToLayout(`${cache.host}/team/first:v1`, folders.make('proxy-ttl-'), 'v1');
      await cache.berth.gc.run();
      assert.deepEqual(layersOnDisk(cache.root, first), [true, true, true], 'pulled within the TTL: kept');

      agePulls(cache.root, 'team/first', TTL_MS + 1_000);
      const report = await cache.berth.gc.run();
      assert.deepEqual(layersOnDisk(cache.root, first), [false, false, false], 'expired: the bytes are gone');
      assert.ok(report.bytesFreed >= 2 * LAYER_BYTES, `bytes freed: ${report.bytesFreed}`);
      const hex = first.image.manifest.digest.slice('sha256:'.length);
      const revision = `docker/registry/v2/repositories/team/first/_manifests/revisions/sha256/${hex}/link`;
      assert.equal(
        existsSync(join(cache.root, revision)),
        false,
        'the expired manifest is no longer in the repository',
      );

      const again = folders.make('proxy-ttl-again-');
      await pullToLayout(`${cache.host}/team/first:v1`, again, 'v1');
      await assertLayoutCopy(first.layout, again, ['v1']);
      await eventually(
        () => countRequests(upstream, 'GET', `/v2/team/first/blobs/${first.blobs[1]}`) === 2,
        'the expired layer is fetched again',
      );
    } finally {
      await cache?.close();
    }
  });

  it('berth.proxy.maxsize: collection removes the least recently pulled image until the rest fits', async () => {
    let cache: TestBerth | undefined;
    try {
      cache = await startBerth({
        config: {
          berth: {
            gc: { graceperiod: '0s' },
            // Room for two of the three images (each a little over two layers).
            // A 20 s TTL lets a pull refresh its records every 2 s (a tenth of it).
            proxy: { maxsize: 5 * LAYER_BYTES, upstreams: { 'registry.test': { urls: upstream.url, ttl: '20s' } } },
          },
        },
      });
      for (const name of ['first', 'second', 'third']) {
        await pullToLayout(`${cache.host}/registry.test/team/${name}:v1`, folders.make('proxy-cap-'), 'v1');
        await sleep(50); // distinct pull times
      }
      // `first` is pulled again, so `second` is now the least recently pulled.
      await sleep(2_200);
      await pullToLayout(`${cache.host}/registry.test/team/first:v1`, folders.make('proxy-cap-'), 'v1');
      const report = await cache.berth.gc.run();
      assert.deepEqual(layersOnDisk(cache.root, second), [false, false, false], 'least recently pulled: removed');
      assert.deepEqual(layersOnDisk(cache.root, first), [true, true, true]);
      assert.deepEqual(layersOnDisk(cache.root, third), [true, true, true]);
      assert.deepEqual(report.beforeMark, {
        manifestsExpired: 0,
        manifestsEvicted: 1,
        blobLinksRemoved: 3,
        cachedBytes: (report.beforeMark as { cachedBytes: number }).cachedBytes,
      });
      assert.ok((report.beforeMark as { cachedBytes: number }).cachedBytes <= 5 * LAYER_BYTES);
    } finally {
      await cache?.close();
    }
  });
});

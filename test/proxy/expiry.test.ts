/**
 * Expiry and the size cap of the pull-through cache, through online garbage collection: content
 * pulled within the TTL stays, content not pulled for longer is removed and its bytes leave the
 * disk, and past `berth.proxy.maxsize` the least recently pulled image goes first. A removed
 * image is fetched again on the next pull.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { assertLayoutCopy, pullToLayout } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

const TTL_MS = 2_000;
const LAYER_BYTES = 256 * 1024;

function blobOnDisk(root: string, digest: string): boolean {
  const hex = digest.slice('sha256:'.length);
  return existsSync(join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'));
}

function layersOnDisk(root: string, image: UpstreamImage): boolean[] {
  return image.blobs.map((digest) => blobOnDisk(root, digest));
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
      assert.deepEqual(layersOnDisk(cache.root, first), [true, true, true]);
      await sleep(TTL_MS * 0.75);
      await pullToLayout(`${cache.host}/team/first:v1`, folders.make('proxy-ttl-'), 'v1');
      await sleep(TTL_MS * 0.5);
      // Older than the TTL since the first pull, not since the second.
      await cache.berth.gc.run();
      assert.deepEqual(layersOnDisk(cache.root, first), [true, true, true], 'pulled within the TTL: kept');

      await sleep(TTL_MS + 200);
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

/**
 * Two Berth instances caching one upstream over one storage folder and one Redis: 20 concurrent
 * cold pulls spread over both make one upstream GET per blob and one of the manifest, because
 * the fetch locks are Redis locks.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { redisTool, startRedis, type TestRedis } from '../helpers/redis.js';
import { assertLayoutCopy, pullToLayout } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

describeWithTools('pull-through cache across instances', [tools.skopeo(), tools.distribution(), redisTool()], () => {
  const folders = tempFolders();
  let upstream: TestDockerRegistry;
  let redis: TestRedis;
  let instances: TestBerth[] = [];
  let image: UpstreamImage;

  before(async () => {
    upstream = await startUpstream();
    image = await pushUpstreamImage(upstream, folders.make('proxy-multi-images-'), 'team/shared', 'v1', {
      layers: 3,
      layerSize: 1024 * 1024,
    });
    redis = await startRedis();
    const root = folders.make('proxy-multi-root-');
    const config = { proxy: { remoteurl: upstream.url }, redis: { addr: redis.addr } };
    instances = [await startBerth({ root, config }), await startBerth({ root, config })];
  });

  after(async () => {
    for (const instance of instances) await instance.close();
    await redis?.stop();
    await upstream?.close();
    await folders.removeAll();
  });

  it('20 concurrent cold pulls over two instances: one upstream GET per blob and manifest', async () => {
    const copies = Array.from({ length: 20 }, (_, index) => folders.make(`proxy-multi-${index}-`));
    await Promise.all(
      copies.map((copy, index) => pullToLayout(`${instances[index % 2]!.host}/team/shared:v1`, copy, 'v1')),
    );
    for (const copy of copies.slice(0, 2)) await assertLayoutCopy(image.layout, copy, ['v1']);
    await eventually(
      () => image.blobs.every((digest) => countRequests(upstream, 'GET', `/v2/team/shared/blobs/${digest}`) >= 1),
      'every blob fetched',
    );
    for (const digest of image.blobs)
      assert.equal(countRequests(upstream, 'GET', `/v2/team/shared/blobs/${digest}`), 1, `${digest}: one GET`);
    assert.equal(countRequests(upstream, 'GET', `/v2/team/shared/manifests/${image.image.manifest.digest}`), 1);
  });
});

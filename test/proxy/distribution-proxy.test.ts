/**
 * Distribution's `proxy:` section, verbatim: a config file written for `registry:2` as a mirror
 * (remoteurl, ttl) makes Berth a pull-through cache of Debian's `docker-registry` on loopback.
 * skopeo pulls come out byte-identical to what was pushed upstream, the second pull is served
 * from the cache (only a manifest HEAD reaches the upstream), 20 concurrent cold pulls cost one
 * upstream GET per blob, the cache keeps serving with the upstream stopped, what the upstream
 * lacks is reported as it says, and pushes and deletes answer UNSUPPORTED.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { createBerth, type Berth } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { pino } from 'pino';
import { tempFolders } from '../helpers/berth.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { assertLayoutCopy, pullToLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

describeWithTools('Distribution proxy section', [tools.skopeo(), tools.distribution()], () => {
  const folders = tempFolders();
  let upstream: TestDockerRegistry;
  let berth: Berth;
  let host: string;
  let root: string;
  let warm: UpstreamImage;
  let concurrent: UpstreamImage;
  let big: UpstreamImage;

  before(async () => {
    upstream = await startUpstream();
    const images = folders.make('proxy-images-');
    warm = await pushUpstreamImage(upstream, images, 'library/app', 'v1', { layers: 3 });
    concurrent = await pushUpstreamImage(upstream, images, 'team/busy', 'v1', {
      layers: 2,
      layerSize: 2 * 1024 * 1024,
    });
    big = await pushUpstreamImage(upstream, images, 'team/big', 'v1', { layers: 1, layerSize: 32 * 1024 * 1024 });
    // The mirror recipe's configuration, as a registry:2 user writes it.
    root = folders.make('proxy-root-');
    const file = join(folders.make('proxy-config-'), 'config.yml');
    writeFileSync(
      file,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        '  fields:',
        '    service: registry',
        'storage:',
        '  cache:',
        '    blobdescriptor: inmemory',
        '  filesystem:',
        `    rootdirectory: ${root}`,
        'http:',
        '  addr: 127.0.0.1:0',
        '  headers:',
        '    X-Content-Type-Options: [nosniff]',
        'health:',
        '  storagedriver:',
        '    enabled: true',
        '    interval: 10s',
        '    threshold: 3',
        'proxy:',
        `  remoteurl: ${upstream.url}`,
        '  ttl: 168h',
        '',
      ].join('\n'),
    );
    const { config, warnings } = loadConfig(file, {});
    assert.ok(!warnings.some((line) => line.includes('"proxy"')), `proxy must not be ignored: ${warnings.join('; ')}`);
    berth = createBerth(config, pino({ level: process.env.BERTH_TEST_LOG ?? 'silent' }));
    const { port } = await berth.listen({ host: '127.0.0.1', port: 0 });
    host = `127.0.0.1:${port}`;
  });

  after(async () => {
    await berth?.close();
    await upstream?.close();
    await folders.removeAll();
  });

  it('first and second pull are byte-identical to the upstream image; the second only asks with HEAD', async () => {
    const first = folders.make('proxy-pull-1-');
    await pullToLayout(`${host}/library/app:v1`, first, 'v1');
    await assertLayoutCopy(warm.layout, first, ['v1']);
    for (const digest of warm.blobs) {
      await eventually(
        () => countRequests(upstream, 'GET', `/v2/library/app/blobs/${digest}`) === 1,
        `one upstream GET of ${digest}`,
      );
    }
    const headsBefore = countRequests(upstream, 'HEAD', '/v2/library/app/manifests/v1');
    assert.ok(headsBefore >= 1, 'the tag was asked about with HEAD');

    const second = folders.make('proxy-pull-2-');
    await pullToLayout(`${host}/library/app:v1`, second, 'v1');
    await assertLayoutCopy(warm.layout, second, ['v1']);
    await eventually(
      () => countRequests(upstream, 'HEAD', '/v2/library/app/manifests/v1') > headsBefore,
      'the second pull revalidates the tag with HEAD',
    );
    for (const digest of warm.blobs)
      assert.equal(countRequests(upstream, 'GET', `/v2/library/app/blobs/${digest}`), 1, `${digest} fetched once`);
    assert.equal(
      countRequests(upstream, 'GET', `/v2/library/app/manifests/v1`),
      0,
      'the manifest is fetched by digest, never by tag',
    );
  });

  it('20 concurrent cold pulls of one image make one upstream GET per blob', async () => {
    const pulls = Array.from({ length: 20 }, (_, index) =>
      pullToLayout(`${host}/team/busy:v1`, folders.make(`proxy-busy-${index}-`), 'v1'),
    );
    await Promise.all(pulls);
    await eventually(
      () => concurrent.blobs.every((digest) => countRequests(upstream, 'GET', `/v2/team/busy/blobs/${digest}`) >= 1),
      'every blob fetched',
    );
    for (const digest of concurrent.blobs)
      assert.equal(countRequests(upstream, 'GET', `/v2/team/busy/blobs/${digest}`), 1, `${digest}: one upstream GET`);
    assert.equal(
      countRequests(upstream, 'GET', `/v2/team/busy/manifests/${concurrent.image.manifest.digest}`),
      1,
      'one upstream GET of the manifest',
    );
  });

  it('lists the upstream tags and answers what the upstream lacks as the upstream does', async () => {
    const tags = await fetch(`http://${host}/v2/library/app/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), { name: 'library/app', tags: ['v1'] });
    const missing = await fetch(`http://${host}/v2/library/app/manifests/nope`);
    assert.equal(missing.status, 404);
    const body = (await missing.json()) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]?.code, 'MANIFEST_UNKNOWN');
    const unknownRepo = await fetch(`http://${host}/v2/nobody/here/blobs/sha256:${'0'.repeat(64)}`);
    assert.equal(unknownRepo.status, 404);
    const catalog = await fetch(`http://${host}/v2/_catalog`);
    assert.deepEqual(await catalog.json(), { repositories: ['library/app', 'team/busy'] });
  });

  it('refuses pushes and deletes with UNSUPPORTED, as Distribution does', async () => {
    const upload = await fetch(`http://${host}/v2/library/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(upload.status, 405);
    assert.equal(((await upload.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNSUPPORTED');
    const put = await fetch(`http://${host}/v2/library/app/manifests/v2`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: '{}',
    });
    assert.equal(put.status, 405);
    const del = await fetch(`http://${host}/v2/library/app/manifests/${warm.image.manifest.digest}`, {
      method: 'DELETE',
    });
    assert.equal(del.status, 405);
    const pushed = await skopeo(
      ['copy', '--dest-tls-verify=false', `oci:${warm.layout}:v1`, `docker://${host}/library/other:v1`],
      { allowFailure: true },
    );
    assert.notEqual(pushed.code, 0, 'skopeo cannot push into the cache');
  });

  it('streams a first pull as it arrives, and finishes the cache copy when the client goes away', async () => {
    const layer = big.image.layers[0]!.descriptor;
    // Read the first bytes of the cold blob, then hang up.
    const firstBytes = await new Promise<number>((resolve, reject) => {
      const request = httpGet(`http://${host}/v2/team/big/blobs/${layer.digest}`, (response) => {
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['content-length'], String(layer.size));
        response.once('data', (chunk: Buffer) => {
          resolve(chunk.length);
          request.destroy();
        });
      });
      request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
    });
    assert.ok(firstBytes > 0 && firstBytes < layer.size, 'the client got bytes before the whole blob was there');
    // The copy is finished anyway: the blob becomes visible in storage, and is whole.
    await eventually(
      () => {
        const hex = layer.digest.slice('sha256:'.length);
        return existsSync(join(root, 'docker/registry/v2/repositories/team/big/_layers/sha256', hex, 'link'));
      },
      'the cache copy of the abandoned pull is linked',
      30_000,
    );
    const whole = await fetch(`http://${host}/v2/team/big/blobs/${layer.digest}`);
    assert.equal(whole.status, 200);
    const hash = createHash('sha256');
    for await (const chunk of whole.body!) hash.update(chunk as Uint8Array);
    assert.equal(`sha256:${hash.digest('hex')}`, layer.digest);
    assert.equal(countRequests(upstream, 'GET', `/v2/team/big/blobs/${layer.digest}`), 1, 'fetched upstream once');
  });

  it('serves cached images with the upstream stopped; uncached content fails as unavailable', async () => {
    await upstream.close();
    const copy = folders.make('proxy-offline-');
    await pullToLayout(`${host}/library/app:v1`, copy, 'v1');
    await assertLayoutCopy(warm.layout, copy, ['v1']);
    const response = await fetch(`http://${host}/v2/library/app/manifests/v1`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('warning') ?? '', /110/);
    const uncached = await fetch(`http://${host}/v2/library/never/manifests/v1`);
    assert.equal(uncached.status, 503);
    assert.equal(((await uncached.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
  });
});

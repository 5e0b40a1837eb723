/** The in-memory driver (`storage.inmemory`) against the driver contract, and a registry on it. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryDriver } from '../../src/storage/inmemory/driver.js';
import { pino } from 'pino';
import { createBerth, type Berth } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { runDriverContract } from './contract.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import { describeWithTools, tools } from '../helpers/tools.js';

runDriverContract('inmemory', () => new InMemoryDriver());

describe('a registry on storage.inmemory', () => {
  let berth: Berth;
  let url: string;
  before(async () => {
    const { config } = validateConfig({
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { inmemory: null, delete: { enabled: true } },
      http: { addr: '127.0.0.1:0' },
    });
    berth = createBerth(config, pino({ level: 'silent' }));
    url = `http://127.0.0.1:${(await berth.listen({ host: '127.0.0.1', port: 0 })).port}`;
  });
  after(() => berth.close());

  it('stores and serves an image, byte for byte, with nothing on disk', async () => {
    assert.equal(berth.registry.driver.name, 'inmemory');
    const image = makeImage({ layers: 2 });
    await pushImage(url, 'demo/app', 'v1', image);
    const manifest = await fetch(`${url}/v2/demo/app/manifests/v1`, { headers: { Accept: image.mediaType } });
    assert.equal(manifest.status, 200);
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
    const layer = image.layers[1]!;
    const blob = await fetch(`${url}/v2/demo/app/blobs/${layer.digest}`);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), layer.content);
    const ranged = await fetch(`${url}/v2/demo/app/blobs/${layer.digest}`, { headers: { Range: 'bytes=3-9' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.content.subarray(3, 10));
    const catalog = (await (await fetch(`${url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['demo/app']);
  });
});

describeWithTools('storage.inmemory beside Distribution', [tools.distribution()], () => {
  it('serves the same bytes and listings for the same pushes', async () => {
    const distribution = await startDockerRegistry({ config: { storage: { filesystem: undefined, inmemory: {} } } });
    const { config } = validateConfig({
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { inmemory: {} },
      http: { addr: '127.0.0.1:0' },
    });
    const berth = createBerth(config, pino({ level: 'silent' }));
    const ours = `http://127.0.0.1:${(await berth.listen({ host: '127.0.0.1', port: 0 })).port}`;
    try {
      const image = makeImage({ layers: 1 });
      const answers = [];
      for (const url of [ours, distribution.url]) {
        await pushImage(url, 'side/by-side', 'v1', image);
        const manifest = await fetch(`${url}/v2/side/by-side/manifests/v1`, { headers: { Accept: image.mediaType } });
        const tags = await (await fetch(`${url}/v2/side/by-side/tags/list`)).json();
        answers.push({ status: manifest.status, body: Buffer.from(await manifest.arrayBuffer()), tags });
      }
      assert.deepEqual(answers[0], answers[1]);
      assert.deepEqual(answers[0]!.body, image.manifest);
    } finally {
      await berth.close();
      await distribution.close();
    }
  });
});

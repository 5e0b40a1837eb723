/**
 * Quotas: a push is refused at the manifest PUT exactly when it would take a repository or a
 * namespace one byte (or one tag) past its limit, with DENIED naming the quota and the usage;
 * uploads are refused at their start once a limit is reached; a layer shared inside a namespace
 * counts once; a warning is logged at the threshold.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { pushImage, pushManifest, randomBlob, type Image } from '../helpers/content.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { imageOf } from '../gc/support.js';

/** Bytes an image adds to a scope holding none of its blobs. */
function sizeOf(image: Image): number {
  return image.manifest.length + image.config.content.length + image.layers.reduce((t, l) => t + l.content.length, 0);
}

async function denied(response: Response): Promise<{ message: string; detail: Record<string, unknown> }> {
  const text = await response.text();
  assert.equal(response.status, 403, text);
  const error = (
    JSON.parse(text) as { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> }
  ).errors[0]!;
  assert.equal(error.code, 'DENIED');
  return error;
}

describe('quotas', () => {
  const folders = tempFolders();
  let server: TestBerth;
  const logLines: Array<Record<string, unknown>> = [];
  const base = imageOf([randomBlob(5_000)]);
  const next = imageOf([randomBlob(3_000)]);
  // The config is the same in both: the second push adds its manifest and layer only.
  const exact = sizeOf(base) + next.manifest.length + next.layers[0]!.content.length;
  const sharedLayer = randomBlob(20_000);
  const teamX = imageOf([sharedLayer]);
  const teamY = imageOf([sharedLayer], 'arm64');

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
        done();
      },
    });
    server = await startBerth({
      root: folders.make('berth-quotas-'),
      logger: pino({ level: 'warn' }, sink),
      config: {
        berth: {
          quotas: {
            warnat: 90,
            rules: [
              { repositories: 'exact/fits', bytes: exact },
              { repositories: 'exact/over', bytes: exact - 1 },
              // Room for the shared layer once, both configs and both manifests; not twice the layer.
              { namespaces: 'team', bytes: sizeOf(teamX) + sizeOf(teamY) - sharedLayer.content.length, tags: 2 },
            ],
          },
        },
      },
    });
  });

  after(async () => {
    await server.close();
    await folders.removeAll();
  });

  it('accepts a push that reaches the limit exactly, and warns at the threshold', async () => {
    await pushImage(server.url, 'exact/fits', 'one', base);
    await pushImage(server.url, 'exact/fits', 'two', next);
    const usage = (await (await fetch(`${server.url}/_berth/admin/usage?repositories=exact/fits`)).json()) as {
      repositories: Array<{ logical: number }>;
    };
    assert.equal(usage.repositories[0]?.logical, exact);
    const warning = logLines.find((line) => line.scope === 'repository exact/fits');
    assert.ok(warning, JSON.stringify(logLines));
    assert.match(
      String(warning.msg),
      /^quota: repository exact\/fits uses \d+ of \d+ bytes \(100 %, warning at 90 %\)/,
    );
  });

  it('refuses the push one byte over, naming the quota and the usage', async () => {
    await pushImage(server.url, 'exact/over', 'one', base);
    for (const blob of [next.config, ...next.layers]) {
      const start = await fetch(`${server.url}/v2/exact/over/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202, 'under the limit, uploads start');
      const location = new URL(start.headers.get('location')!, server.url);
      location.searchParams.set('digest', blob.digest);
      await fetch(location, { method: 'PUT', body: blob.content as unknown as BodyInit });
    }
    const error = await denied(await pushManifest(server.url, 'exact/over', 'two', next.manifest, next.mediaType));
    const used = sizeOf(base);
    assert.equal(
      error.message,
      `quota exceeded: repository exact/over uses ${used} bytes; this push adds ${exact - used} bytes, ${exact} would exceed the limit of ${exact - 1}: berth.quotas.rules[1] (${exact - 1} bytes for each repository of exact/over)`,
    );
    assert.deepEqual(error.detail, {
      quota: `berth.quotas.rules[1] (${exact - 1} bytes for each repository of exact/over)`,
      scope: 'repository exact/over',
      kind: 'bytes',
      used,
      adding: exact - used,
      limit: exact - 1,
    });
    // Retagging what the repository holds adds no byte and stays possible.
    assert.equal((await pushManifest(server.url, 'exact/over', 'again', base.manifest, base.mediaType)).status, 201);
  });

  it('refuses uploads at their start once the byte limit is reached', async () => {
    const error = await denied(await fetch(`${server.url}/v2/exact/fits/blobs/uploads/`, { method: 'POST' }));
    assert.match(error.message, /the limit of \d+ bytes is reached; no upload is accepted/);
    // A repository no quota names is not affected.
    assert.equal((await fetch(`${server.url}/v2/free/app/blobs/uploads/`, { method: 'POST' })).status, 202);
  });

  it('counts a layer shared inside a namespace once, and limits its tags', async () => {
    await pushImage(server.url, 'team/x', 'v1', teamX);
    // Without deduplication team/y would not fit.
    await pushImage(server.url, 'team/y', 'v1', teamY);
    const error = await denied(await pushManifest(server.url, 'team/y', 'v2', teamY.manifest, teamY.mediaType));
    assert.match(
      error.message,
      /^quota exceeded: namespace team uses 2 tags; this push adds 1 tags, 3 would exceed the limit of 2/,
    );
    // Pushing to a tag that exists adds no tag.
    assert.equal((await pushManifest(server.url, 'team/y', 'v1', teamY.manifest, teamY.mediaType)).status, 201);
  });
});

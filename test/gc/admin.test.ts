/**
 * Online garbage collection in the server: the admin endpoint (`/_berth/admin/gc`, also under
 * `http.prefix`), its errors, runs in the background, the schedule (`berth.gc.interval`), runs
 * asked for in read-only mode, and the `berth.gc` configuration keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { validateConfig } from '../../src/config/load.js';
import type { GcReport } from '../../src/registry/gc/collector.js';
import type { GcStatus } from '../../src/registry/gc/scheduler.js';
import { adminGc, storedBlobs, waitFor } from './support.js';

async function pushAndDelete(url: string, name: string): Promise<string[]> {
  const image = makeImage({ layers: 2 });
  await pushImage(url, name, 'gone', image);
  assert.equal((await fetch(`${url}/v2/${name}/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
  return [image.digest, ...image.layers.map((layer) => layer.digest)];
}

async function status(url: string, path = '/_berth/admin/gc'): Promise<GcStatus> {
  const response = await fetch(`${url}${path}`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return (await response.json()) as GcStatus;
}

describe('the admin endpoint', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { berth: { gc: { graceperiod: '0s' } } } })));
  after(() => server.close());

  it('reports the settings and that nothing ran yet', async () => {
    const state = await status(server.url);
    assert.deepEqual(state, {
      running: false,
      runs: 0,
      settings: { intervalMs: 0, gracePeriodMs: 0, deleteUntagged: false, dryRun: false },
    });
  });

  it('runs on POST and answers with the report; GET then shows it', async () => {
    const garbage = await pushAndDelete(server.url, 'admin/app');
    const report = await adminGc(server.url);
    assert.equal(report.dryRun, false);
    assert.ok(report.blobsDeleted >= garbage.length);
    const stored = storedBlobs(server.root);
    for (const digest of garbage) assert.ok(!stored.has(digest));
    const state = await status(server.url);
    assert.equal(state.runs, 1);
    assert.equal(state.last?.run, report.run);
  });

  it('refuses a bad query with a JSON error', async () => {
    const response = await fetch(`${server.url}/_berth/admin/gc?dryrun=perhaps`, { method: 'POST' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]?.code, 'UNSUPPORTED');
    assert.match(body.errors[0]!.message, /dryrun must be true or false/);
  });

  it('runs in the background with wait=false', async () => {
    const garbage = await pushAndDelete(server.url, 'admin/background');
    const before = (await status(server.url)).runs;
    const response = await fetch(`${server.url}/_berth/admin/gc?wait=false`, { method: 'POST' });
    assert.equal(response.status, 202);
    assert.equal(((await response.json()) as GcStatus).running, true);
    await waitFor(async () => (await status(server.url)).runs > before, 'the background run to finish');
    const stored = storedBlobs(server.root);
    for (const digest of garbage) assert.ok(!stored.has(digest));
  });
});

describe('scheduled collection', () => {
  let server: TestBerth;
  // A grace period above the push's duration, so runs every 50 ms never take its fresh uploads.
  before(
    async () => (server = await startBerth({ config: { berth: { gc: { interval: '50ms', graceperiod: '1s' } } } })),
  );
  after(() => server.close());

  it('frees deleted images without being asked, once older than the grace period', async () => {
    const garbage = await pushAndDelete(server.url, 'scheduled/app');
    await waitFor(() => {
      const stored = storedBlobs(server.root);
      return garbage.every((digest) => !stored.has(digest));
    }, 'a scheduled run to free the deleted image');
    const state = await status(server.url);
    assert.ok(state.runs >= 1);
    assert.equal(state.settings.intervalMs, 50);
  });
});

describe('admin runs elsewhere', () => {
  it('works under http.prefix and in read-only mode, where clients still cannot write', async () => {
    const root = tempDir('berth-gc-admin-');
    try {
      const writable = await startBerth({ root });
      const garbage = await pushAndDelete(writable.url, 'frozen/app');
      await writable.close();
      const server = await startBerth({
        root,
        config: {
          http: { prefix: '/registry/' },
          storage: { maintenance: { readonly: { enabled: true } } },
          berth: { gc: { graceperiod: '0s' } },
        },
      });
      try {
        const response = await fetch(`${server.url}/registry/_berth/admin/gc`, { method: 'POST' });
        assert.equal(response.status, 200);
        const report = (await response.json()) as GcReport;
        assert.ok(report.blobsDeleted >= garbage.length);
        assert.equal((await status(server.url, '/_berth/admin/gc')).runs, 1);
        const push = await fetch(`${server.url}/registry/v2/frozen/app/blobs/uploads/`, { method: 'POST' });
        assert.equal(push.status, 405);
      } finally {
        await server.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('berth.gc configuration', () => {
  const storage = { filesystem: { rootdirectory: '/tmp/x' } };

  it('defaults to no schedule, a 24h grace period, every revision kept', () => {
    const { config } = validateConfig({ version: '0.1', storage });
    assert.deepEqual(config.berth.gc, {
      interval: 0,
      graceperiod: 24 * 3_600_000,
      deleteuntagged: false,
      dryrun: false,
    });
  });

  it('reads Go durations and YAML booleans, and names a bad value', () => {
    const { config } = validateConfig({
      version: '0.1',
      storage,
      berth: { gc: { interval: '1h30m', graceperiod: '10m', deleteuntagged: 'true' } },
    });
    assert.deepEqual(config.berth.gc, {
      interval: 90 * 60_000,
      graceperiod: 10 * 60_000,
      deleteuntagged: true,
      dryrun: false,
    });
    assert.throws(
      () => validateConfig({ version: '0.1', storage, berth: { gc: { graceperiod: 'soon' } } }),
      /berth\.gc\.graceperiod: "soon" is not a duration/,
    );
  });
});

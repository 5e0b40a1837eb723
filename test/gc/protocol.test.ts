/**
 * The sweep protocol, race by race, made deterministic by writing the protocol's files as
 * another process would (docs/garbage-collection.md):
 * - a writer that meets a tombstone naming what it relies on waits, then checks again: a manifest
 *   is refused, an upload stores its own bytes, a mount falls back to an upload;
 * - a stale tombstone (a dead run's) does not hold writers;
 * - an intent (a write in progress) keeps its digests through a sweep; a dead writer's is removed;
 * - what is written between the mark and the sweep is kept by the re-scan;
 * - a lease held by another process makes a second run wait its turn (409), not a dry run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { asBody, errorCodes, makeImage, pushBlob, pushImage, pushManifest, randomBlob } from '../helpers/content.js';
import { blobDataPath, V2 } from '../helpers/files.js';
import { ManifestGraph } from '../../src/registry/gc/graph.js';
import { mark } from '../../src/registry/gc/mark.js';
import { sweep, type SweepResult } from '../../src/registry/gc/sweep.js';
import type { Registry } from '../../src/registry/registry.js';
import { RunHeartbeat } from '../../src/registry/gc/liveness.js';
import {
  adminGc,
  intents,
  pullVerified,
  pushIndex,
  pushReferrer,
  SIGNATURE,
  storedBlobs,
  waitFor,
  writeIntent,
  writeTombstone,
} from './support.js';

const NOW = { berth: { gc: { graceperiod: '0s' } } };

/** Tracks whether a promise has settled, to show a writer is still waiting. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

function blobFolder(root: string, digest: string): string {
  return join(blobDataPath(root, digest), '..');
}

/**
 * A run split in two, so a test can write between its mark and its sweep: `mark` with everything
 * so far older than the grace period, then `sweep` under a run file of `run`.
 */
async function markNow(registry: Registry, deleteUntagged: boolean) {
  const threshold = Date.now() + 1000;
  const emit = () => undefined;
  const graph = new ManifestGraph(registry.driver);
  const marked = await mark(registry.driver, await registry.catalog.all(), graph, { deleteUntagged, threshold, emit });
  return {
    marked,
    async sweep(run: string): Promise<SweepResult> {
      const { heartbeat } = await RunHeartbeat.start(registry.driver, run);
      try {
        return await sweep(registry.driver, registry.catalog, graph, marked, { run, threshold, heartbeat, emit });
      } finally {
        await heartbeat.end();
      }
    },
  };
}

describe('writers and tombstones', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('a manifest PUT waits while a sweep may delete its layer, and is refused once the layer is gone', async () => {
    const { url, root } = server;
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'waits', blob);
    const tombstone = writeTombstone(root, 'run-refused', [image.layers[0]!.digest]);
    const put = track(pushManifest(url, 'waits', 'v1', image.manifest, image.mediaType));
    await waitFor(() => intents(root).length > 0, 'the PUT to declare its intent');
    assert.equal(put.settled(), false, 'the PUT waits for the sweep');
    // The sweep deletes the layer, then removes its tombstone.
    rmSync(blobFolder(root, image.layers[0]!.digest), { recursive: true });
    rmSync(tombstone);
    const response = await put.promise;
    assert.equal(response.status, 400);
    assert.deepEqual(await errorCodes(response), ['MANIFEST_BLOB_UNKNOWN']);
    assert.deepEqual(intents(root), [], 'the intent is removed when the write ends');
  });

  it('a manifest PUT goes ahead once a sweep that kept its layer ends', async () => {
    const { url, root } = server;
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'kept', blob);
    const tombstone = writeTombstone(root, 'run-kept', [image.config.digest, image.layers[0]!.digest]);
    const put = track(pushManifest(url, 'kept', 'v1', image.manifest, image.mediaType));
    await waitFor(() => intents(root).length > 0, 'the PUT to declare its intent');
    assert.equal(put.settled(), false);
    rmSync(tombstone);
    assert.equal((await put.promise).status, 201);
    await pullVerified(url, 'kept', 'v1');
  });

  it('an upload that finishes after a sweep deleted the stored copy stores its own bytes', async () => {
    const { url, root } = server;
    const blob = randomBlob(900);
    await pushBlob(url, 'first', blob); // the copy a sweep is about to delete
    const start = await fetch(`${url}/v2/second/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, url);
    const patch = await fetch(location, {
      method: 'PATCH',
      body: asBody(blob.content),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(patch.status, 202);
    const tombstone = writeTombstone(root, 'run-upload', [blob.digest]);
    const finish = new URL(patch.headers.get('location')!, url);
    finish.searchParams.set('digest', blob.digest);
    const put = track(fetch(finish, { method: 'PUT' }));
    await waitFor(() => intents(root).length > 0, 'the upload to declare its intent');
    assert.equal(put.settled(), false);
    rmSync(blobFolder(root, blob.digest), { recursive: true });
    rmSync(tombstone);
    assert.equal((await put.promise).status, 201);
    const served = await fetch(`${url}/v2/second/blobs/${blob.digest}`);
    assert.equal(served.status, 200);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), blob.content);
  });

  it('a mount whose blob a sweep deleted meanwhile falls back to an upload', async () => {
    const { url, root } = server;
    const blob = randomBlob(800);
    await pushBlob(url, 'source', blob);
    const tombstone = writeTombstone(root, 'run-mount', [blob.digest]);
    const mount = track(fetch(`${url}/v2/target/blobs/uploads/?mount=${blob.digest}&from=source`, { method: 'POST' }));
    await waitFor(() => intents(root).length > 0, 'the mount to declare its intent');
    assert.equal(mount.settled(), false);
    rmSync(blobFolder(root, blob.digest), { recursive: true });
    rmSync(tombstone);
    const response = await mount.promise;
    assert.equal(response.status, 202, 'an upload session instead of a mount');
    assert.equal((await fetch(`${url}/v2/target/blobs/${blob.digest}`)).status, 404);
  });

  it('a tombstone without its run file (a run that died long ago) holds no writer', async () => {
    const { url, root } = server;
    const image = makeImage({ layers: 1 });
    writeTombstone(root, 'run-dead', [image.layers[0]!.digest], null);
    await pushImage(url, 'stale', 'v1', image);
    await pullVerified(url, 'stale', 'v1');
  });
});

describe('sweeps and intents', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it("an intent keeps the blobs a write in progress relies on, and a dead writer's intent is removed", async () => {
    const { url, root } = server;
    const blob = randomBlob(700);
    await pushBlob(url, 'intent', blob);
    assert.equal((await fetch(`${url}/v2/intent/blobs/${blob.digest}`, { method: 'DELETE' })).status, 202);
    const live = writeIntent(root, 'live-writer', 'intent', [blob.digest]);
    const kept = await adminGc(url);
    assert.equal(kept.blobsDeleted, 0);
    assert.ok(storedBlobs(root).has(blob.digest));

    rmSync(live);
    writeIntent(root, 'dead-writer', 'intent', [blob.digest], 2 * 3_600_000);
    const swept = await adminGc(url);
    assert.equal(swept.leftoversRemoved.intents, 1);
    assert.deepEqual(intents(root), []);
    assert.equal(swept.blobsDeleted, 1);
    assert.ok(!storedBlobs(root).has(blob.digest));
  });

  it('the re-scan keeps a blob that a manifest pushed after the mark references', async () => {
    const { url, root } = server;
    const registry = server.berth.registry;
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'late', blob);
    const run = await markNow(registry, false);
    const { marked } = run;
    assert.ok(marked.candidates.has(image.layers[0]!.digest), 'unreferenced at the mark');

    await pushImage(url, 'late', 'v1', image); // between the mark and the sweep
    const result = await run.sweep('rescan-test');
    assert.ok(result.keptByRescan >= 2, 'config and layer kept');
    assert.ok(storedBlobs(root).has(image.layers[0]!.digest));
    await pullVerified(url, 'late', 'v1');
    assert.equal(
      existsSync(join(root, V2, '_berth', 'gc', 'tombstones', 'rescan-test')),
      false,
      'the tombstone is removed',
    );
  });

  it('the re-scan keeps an untagged manifest tagged after the mark', async () => {
    const { url } = server;
    const registry = server.berth.registry;
    const image = makeImage({ layers: 1 });
    await pushImage(url, 'retag', image.digest, image);
    const run = await markNow(registry, true);
    const { marked } = run;
    assert.deepEqual(marked.untagged.get(image.digest), ['retag']);

    assert.equal((await pushManifest(url, 'retag', 'now-tagged', image.manifest, image.mediaType)).status, 201);
    const result = await run.sweep('retag-test');
    assert.equal(result.manifestsDeleted, 0);
    await pullVerified(url, 'retag', 'now-tagged');
  });

  it('a re-tag in progress during the re-scan keeps the referrers of the manifest it tags', async () => {
    const { url, root } = server;
    const registry = server.berth.registry;
    const children = [makeImage({ layers: 1, architecture: 'amd64' }), makeImage({ layers: 1, architecture: 'arm64' })];
    const index = await pushIndex(url, 'signed', 'v1', children);
    const signature = await pushReferrer(url, 'signed', index, SIGNATURE);
    assert.equal((await fetch(`${url}/v2/signed/manifests/v1`, { method: 'DELETE' })).status, 202);
    const run = await markNow(registry, true);
    const { marked } = run;
    assert.deepEqual(marked.untagged.get(signature.digest), ['signed'], 'the signature of an untagged index goes');

    // The index is tagged again by a PUT that has declared its intent (before the tombstone, so
    // it does not wait) and writes its links only once the re-scan has read the repository.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const put = registry.manifests.put.bind(registry.manifests);
    registry.manifests.put = async (...args) => {
      await gate;
      return put(...args);
    };
    try {
      const retag = track(pushManifest(url, 'signed', 'again', index.bytes, index.mediaType));
      await waitFor(() => intents(root).length > 0, 'the PUT to declare its intent');
      const result = await run.sweep('retag-referrers');
      release();
      assert.equal((await retag.promise).status, 201);
      assert.equal(result.manifestsDeleted, 0, 'nothing the tagged index reaches was deleted');
    } finally {
      registry.manifests.put = put;
      release();
    }
    await pullVerified(url, 'signed', 'again');
    const listed = (await (await fetch(`${url}/v2/signed/referrers/${index.digest}`)).json()) as {
      manifests: Array<{ digest: string }>;
    };
    assert.deepEqual(
      listed.manifests.map((descriptor) => descriptor.digest),
      [signature.digest],
    );
    await pullVerified(url, 'signed', signature.digest);
  });
});

describe('one run at a time across processes', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('answers 409 while another process holds the lease; a dry run still goes ahead', async () => {
    const folder = join(server.root, V2, '_berth', 'gc');
    mkdirSync(folder, { recursive: true });
    const holder = {
      owner: 'another-process',
      pid: 4242,
      host: 'elsewhere',
      expires: new Date(Date.now() + 60_000).toISOString(),
    };
    writeFileSync(join(folder, 'lock'), JSON.stringify(holder));
    const busy = await fetch(`${server.url}/_berth/admin/gc`, { method: 'POST' });
    assert.equal(busy.status, 409);
    const body = (await busy.json()) as {
      errors: Array<{ code: string; message: string; detail: { holder: { pid: number } } }>;
    };
    assert.match(body.errors[0]!.message, /already running \(process 4242 on elsewhere/);
    assert.equal((await adminGc(server.url, 'dryrun=true')).dryRun, true);

    // An expired lease is free.
    writeFileSync(
      join(folder, 'lock'),
      JSON.stringify({ ...holder, expires: new Date(Date.now() - 1000).toISOString() }),
    );
    assert.equal((await adminGc(server.url)).dryRun, false);
    assert.equal(existsSync(join(folder, 'lock')), false, 'the lease is released after the run');
  });
});

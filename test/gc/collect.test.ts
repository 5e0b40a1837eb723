/**
 * Garbage collection on real folders, through a running Berth's admin endpoint: after images are
 * deleted it frees exactly the bytes no kept image needs (counted on disk and in the report),
 * and every kept image still pulls with verified digests. With deleteuntagged it also removes
 * manifests no tag reaches, but keeps index children and the referrers of kept manifests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { errorCodes, makeImage, pushBlob, pushImage, pushManifest, randomBlob, type Blob } from '../helpers/content.js';
import { blobDataPath, repositoryPath } from '../helpers/files.js';
import { describe as describeDoc, imageDoc, makeIndex } from '../helpers/manifests.js';
import { GarbageCollector } from '../../src/registry/gc/collector.js';
import {
  adminGc,
  ageStorage,
  imageOf,
  pullVerified,
  pushIndex,
  pushReferrer,
  SBOM,
  SIGNATURE,
  storedBlobs,
} from './support.js';

const NOW = { berth: { gc: { graceperiod: '0s' } } };

async function deleteManifest(url: string, name: string, digest: string): Promise<void> {
  const response = await fetch(`${url}/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
  assert.equal(response.status, 202, `DELETE ${name}@${digest}`);
}

function sizeOf(blobs: Map<string, number>, digests: string[]): number {
  return digests.reduce((sum, digest) => sum + blobs.get(digest)!, 0);
}

describe('garbage collection after deletes', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('frees exactly the blobs no kept manifest needs, and kept images pull byte-identical', async () => {
    const { url, root } = server;
    const shared = randomBlob(700);
    const [a1, b1, c1, x1, y1] = [
      randomBlob(600),
      randomBlob(610),
      randomBlob(620),
      randomBlob(630),
      randomBlob(640),
    ] as Blob[];
    const imageA = imageOf([shared, a1!]);
    const imageB = imageOf([shared, b1!]);
    const imageC = imageOf([c1!]);
    await pushImage(url, 'app', 'a', imageA);
    await pushImage(url, 'app', 'b', imageB);
    await pushImage(url, 'other/c', 'c', imageC);
    const index = await pushIndex(url, 'app', 'multi', [imageOf([shared, x1!], 'arm64'), imageOf([y1!], 's390x')]);
    const signatureOfA = await pushReferrer(url, 'app', imageDoc(imageA), SIGNATURE);
    const sbomOfA = await pushReferrer(url, 'app', imageDoc(imageA), SBOM);
    // An upload that never made it into an image, then removed from its repository.
    const orphan = randomBlob(650);
    await pushBlob(url, 'app', orphan);
    assert.equal((await fetch(`${url}/v2/app/blobs/${orphan.digest}`, { method: 'DELETE' })).status, 202);

    await deleteManifest(url, 'app', imageB.digest);
    await deleteManifest(url, 'other/c', imageC.digest);
    const before = storedBlobs(root);
    const garbage = [imageB.digest, b1!.digest, imageC.digest, c1!.digest, orphan.digest].sort();

    const dryRun = await adminGc(url, 'dryrun=true');
    assert.equal(dryRun.blobsEligible, garbage.length);
    assert.equal(dryRun.bytesEligible, sizeOf(before, garbage));
    assert.deepEqual(storedBlobs(root), before, 'a dry run deletes nothing');

    const report = await adminGc(url);
    assert.equal(report.blobsDeleted, garbage.length);
    assert.equal(report.bytesFreed, sizeOf(before, garbage));
    assert.equal(report.keptByRescan, 0);
    const afterwards = storedBlobs(root);
    assert.deepEqual([...before.keys()].filter((digest) => !afterwards.has(digest)).sort(), garbage);
    const freedOnDisk = [...before].reduce((sum, [digest, size]) => sum + (afterwards.has(digest) ? 0 : size), 0);
    assert.equal(freedOnDisk, report.bytesFreed);
    // The swept blobs' `_layers` links went with them.
    assert.equal(existsSync(join(repositoryPath(root, 'app'), '_layers', 'sha256', b1!.digest.slice(7))), false);

    // Every kept image pulls completely, and it needs exactly the blobs left on disk.
    const needed = new Set<string>();
    for (const reference of ['a', 'multi', signatureOfA.digest, sbomOfA.digest]) {
      for (const digest of await pullVerified(url, 'app', reference)) needed.add(digest);
    }
    assert.ok(needed.has(index.digest));
    assert.deepEqual([...afterwards.keys()].sort(), [...needed].sort());
    const referrers = (await (await fetch(`${url}/v2/app/referrers/${imageA.digest}`)).json()) as {
      manifests: Array<{ digest: string }>;
    };
    assert.deepEqual(
      referrers.manifests.map((entry) => entry.digest).sort(),
      [signatureOfA.digest, sbomOfA.digest].sort(),
    );

    // A second run finds nothing more to free.
    const again = await adminGc(url);
    assert.equal(again.blobsEligible, 0);
    assert.equal(again.bytesFreed, 0);
  });

  it('refuses a manifest whose blob is linked but whose bytes are gone', async () => {
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(server.url, 'dangling', blob);
    rmSync(blobDataPath(server.root, image.layers[0]!.digest));
    const response = await pushManifest(server.url, 'dangling', 'v1', image.manifest, image.mediaType);
    assert.equal(response.status, 400);
    assert.deepEqual(await errorCodes(response), ['MANIFEST_BLOB_UNKNOWN']);
  });
});

describe('garbage collection with deleteuntagged', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('removes manifests no tag reaches, keeping index children and referrers of kept manifests', async () => {
    const { url, root } = server;
    const shared = randomBlob(500);
    const [a1, a2, u1, x1, z1] = [
      randomBlob(510),
      randomBlob(520),
      randomBlob(530),
      randomBlob(540),
      randomBlob(550),
    ] as Blob[];
    const old = imageOf([shared, a1!]);
    await pushImage(url, 'app', 'v1', old);
    const oldSignature = await pushReferrer(url, 'app', imageDoc(old), SIGNATURE);
    const current = imageOf([shared, a2!]);
    await pushImage(url, 'app', 'v1', current); // v1 moves: `old` is now untagged
    const signature = await pushReferrer(url, 'app', imageDoc(current), SIGNATURE);
    const signatureOfSignature = await pushReferrer(url, 'app', signature, SIGNATURE);
    const untagged = imageOf([u1!]);
    await pushImage(url, 'app', untagged.digest, untagged);
    await pushIndex(url, 'app', 'multi', [imageOf([shared, x1!], 'arm64')]);
    // An index of an index: the inner one and its image are reached only through the outer.
    const deep = imageOf([z1!], 'riscv64');
    await pushImage(url, 'app', deep.digest, deep);
    const inner = makeIndex([describeDoc(imageDoc(deep))]);
    assert.equal((await pushManifest(url, 'app', inner.digest, inner.bytes, inner.mediaType)).status, 201);
    const outer = makeIndex([describeDoc(inner)]);
    assert.equal((await pushManifest(url, 'app', 'nested', outer.bytes, outer.mediaType)).status, 201);

    const before = storedBlobs(root);
    const oldPayload = (JSON.parse(oldSignature.bytes.toString()) as { layers: Array<{ digest: string }> }).layers[0]!
      .digest;
    const garbage = [old.digest, a1!.digest, oldSignature.digest, oldPayload, untagged.digest, u1!.digest].sort();

    // Without deleteuntagged every revision is kept.
    assert.equal((await adminGc(url, 'dryrun=true')).blobsEligible, 0);

    const report = await adminGc(url, 'deleteuntagged=true');
    assert.equal(report.manifestsDeleted, 3, 'old, its signature, and the untagged image');
    assert.equal(report.blobsDeleted, garbage.length);
    assert.equal(report.bytesFreed, sizeOf(before, garbage));
    const afterwards = storedBlobs(root);
    assert.deepEqual([...before.keys()].filter((digest) => !afterwards.has(digest)).sort(), garbage);

    for (const gone of [old.digest, oldSignature.digest, untagged.digest]) {
      assert.equal((await fetch(`${url}/v2/app/manifests/${gone}`)).status, 404, `${gone} is gone`);
    }
    // The tag history and the referrers index no longer name the deleted manifests.
    const app = repositoryPath(root, 'app');
    assert.equal(existsSync(join(app, '_manifests', 'tags', 'v1', 'index', 'sha256', old.digest.slice(7))), false);
    assert.equal(
      existsSync(join(app, '_referrers', 'sha256', old.digest.slice(7), 'sha256', oldSignature.digest.slice(7))),
      false,
    );

    const needed = new Set<string>();
    for (const reference of ['v1', 'multi', 'nested', signature.digest, signatureOfSignature.digest]) {
      for (const digest of await pullVerified(url, 'app', reference)) needed.add(digest);
    }
    assert.deepEqual(
      [...afterwards.keys()].sort(),
      [...needed].sort(),
      'what is left is exactly what the kept images need',
    );
    const referrers = (await (await fetch(`${url}/v2/app/referrers/${current.digest}`)).json()) as {
      manifests: Array<{ digest: string }>;
    };
    assert.deepEqual(
      referrers.manifests.map((entry) => entry.digest),
      [signature.digest],
    );
  });
});

describe('the grace period', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { berth: { gc: { graceperiod: '1h' } } } })));
  after(() => server.close());

  it('keeps unreferenced blobs written within it, and frees them once they are older', async () => {
    const { url, root } = server;
    const keep = makeImage({ layers: 1 });
    const drop = makeImage({ layers: 2 });
    await pushImage(url, 'grace', 'keep', keep);
    await pushImage(url, 'grace', 'drop', drop);
    await deleteManifest(url, 'grace', drop.digest);
    const garbage = [drop.digest, ...drop.layers.map((layer) => layer.digest)];

    const young = await adminGc(url);
    assert.equal(young.blobsDeleted, 0);
    assert.equal(young.blobsYoung, garbage.length);

    ageStorage(root, 2 * 3_600_000);
    // Uploaded again now: its fresh `_layers` link makes it young again (a push in progress).
    await pushBlob(url, 'grace', drop.layers[0]!);
    const report = await adminGc(url);
    assert.equal(report.blobsYoung, 1);
    assert.equal(report.blobsDeleted, garbage.length - 1);
    const left = storedBlobs(root);
    assert.ok(left.has(drop.layers[0]!.digest));
    assert.ok(!left.has(drop.digest) && !left.has(drop.layers[1]!.digest));
    await pullVerified(url, 'grace', 'keep');
  });
});

describe('what each run found and freed goes to the log', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('logs one line of figures per run', async () => {
    const image = makeImage({ layers: 1 });
    await pushImage(server.url, 'logged', 'v1', image);
    await deleteManifest(server.url, 'logged', image.digest);
    const lines: Array<Record<string, any>> = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const collector = new GarbageCollector(server.berth.registry, pino({ level: 'info' }, sink));
    const report = await collector.collect({ gracePeriodMs: 0 });
    const line = lines.find((entry) => entry.msg === 'garbage collection finished');
    assert.ok(line, 'a summary line was logged');
    assert.equal(line.gc.blobsDeleted, 3, 'manifest, config and layer');
    assert.equal(line.gc.bytesFreed, report.bytesFreed);
    assert.ok(report.bytesFreed > 0);
    for (const field of [
      'repositories',
      'blobsMarked',
      'blobsEligible',
      'bytesEligible',
      'durationMs',
      'keptByRescan',
    ]) {
      assert.equal(typeof line.gc[field], 'number', field);
    }
  });
});

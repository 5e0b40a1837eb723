/**
 * Distribution's own `registry garbage-collect` (Debian's `docker-registry`) on a folder Berth
 * wrote, and the other way round:
 * - without --delete-untagged it deletes exactly the blobs Berth's collector would, and every
 *   image Berth serves still pulls afterwards;
 * - with --delete-untagged it keeps every tagged plain image, but (as docs/garbage-collection.md
 *   notes) Distribution 2.8 also removes the untagged referrers of kept images and the untagged
 *   children of tagged indexes; the test checks it loses nothing else;
 * - after Berth's own collection (deleteuntagged included), Distribution serves every kept
 *   image (a roll-back stays possible).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage, randomBlob, type Image } from '../helpers/content.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import { imageDoc, type Doc } from '../helpers/manifests.js';
import { describeWithTools, run, tools } from '../helpers/tools.js';
import { Registry } from '../../src/registry/registry.js';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.js';
import { GarbageCollector } from '../../src/registry/gc/collector.js';
import { imageOf, pullVerified, pushIndex, pushReferrer, SBOM, SIGNATURE, snapshot, storedBlobs } from './support.js';

interface Fixture {
  root: string;
  tagged: Array<{ name: string; tag: string; digest: string }>;
  signature: Doc;
  sbom: Doc;
  index: Doc;
  children: Image[];
}

/** A folder with shared layers, a deleted image, a tagged index, referrers and a moved tag. */
async function writeFixture(): Promise<Fixture> {
  const root = tempDir('berth-gc-compat-');
  const server = await startBerth({ root });
  const { url } = server;
  const shared = randomBlob(900);
  const app = imageOf([shared, randomBlob(910)]);
  const dropped = imageOf([shared, randomBlob(920)]);
  await pushImage(url, 'compat/app', 'v1', app);
  await pushImage(url, 'compat/app', 'dropped', dropped);
  assert.equal((await fetch(`${url}/v2/compat/app/manifests/${dropped.digest}`, { method: 'DELETE' })).status, 202);
  const signature = await pushReferrer(url, 'compat/app', imageDoc(app), SIGNATURE);
  const sbom = await pushReferrer(url, 'compat/app', imageDoc(app), SBOM);
  const children = [imageOf([shared, randomBlob(930)], 'arm64'), imageOf([randomBlob(940)], 's390x')];
  const index = await pushIndex(url, 'compat/app', 'multi', children);
  const first = makeImage({ layers: 1 });
  const second = makeImage({ layers: 1 });
  await pushImage(url, 'compat/plain', 'latest', first);
  await pushImage(url, 'compat/plain', 'latest', second); // `first` is now untagged
  await server.close({ keepRoot: true });
  return {
    root,
    tagged: [
      { name: 'compat/app', tag: 'v1', digest: app.digest },
      { name: 'compat/app', tag: 'multi', digest: index.digest },
      { name: 'compat/plain', tag: 'latest', digest: second.digest },
    ],
    signature,
    sbom,
    index,
    children,
  };
}

function copyOf(root: string): string {
  const copy = tempDir('berth-gc-compat-copy-');
  cpSync(root, copy, { recursive: true, preserveTimestamps: true });
  return copy;
}

async function distributionGc(
  root: string,
  flags: string[],
): Promise<{ code: number; eligible: string[]; output: string }> {
  const config = join(tempDir('berth-gc-compat-config-'), 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n`);
  const result = await run('docker-registry', ['garbage-collect', config, ...flags], {
    allowFailure: true,
    timeout: 60_000,
  });
  const eligible = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('blob eligible for deletion: '))
    .map((line) => line.slice('blob eligible for deletion: '.length).trim())
    .sort();
  return { code: result.code, eligible, output: `${result.stdout}\n${result.stderr}` };
}

async function berthCandidates(root: string, deleteUntagged: boolean): Promise<string[]> {
  const collector = new GarbageCollector(new Registry(new FilesystemDriver({ rootdirectory: root })));
  const lines: string[] = [];
  await collector.collect({ dryRun: true, deleteUntagged, gracePeriodMs: 0, emit: (line) => lines.push(line) });
  return lines
    .filter((line) => line.startsWith('blob eligible for deletion: '))
    .map((line) => line.slice(28))
    .sort();
}

/** Whether Berth, serving `root`, pulls this reference completely. */
async function pulls(server: TestBerth, name: string, reference: string): Promise<boolean> {
  return pullVerified(server.url, name, reference).then(
    () => true,
    () => false,
  );
}

describeWithTools("Distribution's garbage-collect on a folder Berth wrote", [tools.distribution()], () => {
  let fixture: Fixture;
  const cleanup: string[] = [];
  before(async () => {
    fixture = await writeFixture();
    cleanup.push(fixture.root);
  });
  after(() => {
    for (const folder of cleanup) rmSync(folder, { recursive: true, force: true });
  });

  it('deletes exactly the blobs Berth would, and everything Berth serves still pulls', async () => {
    const root = copyOf(fixture.root);
    cleanup.push(root);
    const expected = await berthCandidates(root, false);
    assert.ok(expected.length >= 2, 'the deleted image left garbage');
    const before = storedBlobs(root);
    const result = await distributionGc(root, []);
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(result.eligible, expected);
    const after = storedBlobs(root);
    assert.deepEqual([...before.keys()].filter((digest) => !after.has(digest)).sort(), expected);

    const server = await startBerth({ root });
    try {
      for (const { name, tag } of fixture.tagged) assert.ok(await pulls(server, name, tag), `${name}:${tag}`);
      for (const referrer of [fixture.signature, fixture.sbom])
        assert.ok(await pulls(server, 'compat/app', referrer.digest));
      for (const child of fixture.children) assert.ok(await pulls(server, 'compat/app', child.digest));
    } finally {
      await server.close();
    }
  });

  it('with --delete-untagged keeps every tagged image, losing only untagged referrers and index children', async () => {
    const root = copyOf(fixture.root);
    cleanup.push(root);
    const result = await distributionGc(root, ['--delete-untagged']);
    assert.equal(result.code, 0, result.output);
    const server = await startBerth({ root });
    try {
      assert.ok(await pulls(server, 'compat/app', 'v1'));
      assert.ok(await pulls(server, 'compat/plain', 'latest'));
      // What Berth's --delete-untagged keeps and Distribution 2.8 may not: the note's list, nothing else.
      const mayLose = new Set([
        fixture.signature.digest,
        fixture.sbom.digest,
        ...fixture.children.map((child) => child.digest),
        'multi',
      ]);
      for (const reference of [
        'v1',
        'multi',
        fixture.signature.digest,
        fixture.sbom.digest,
        ...fixture.children.map((child) => child.digest),
      ]) {
        if (!(await pulls(server, 'compat/app', reference)))
          assert.ok(mayLose.has(reference), `Distribution lost ${reference}`);
      }
    } finally {
      await server.close();
    }
  });

  it("serves every image Berth kept after Berth's own collection with deleteuntagged (roll-back)", async () => {
    const root = copyOf(fixture.root);
    cleanup.push(root);
    const collector = new GarbageCollector(new Registry(new FilesystemDriver({ rootdirectory: root })));
    const report = await collector.collect({ deleteUntagged: true, gracePeriodMs: 0 });
    assert.ok(report.blobsDeleted > 0 && report.manifestsDeleted > 0);
    const distribution = await startDockerRegistry({ root });
    try {
      for (const { name, tag, digest } of fixture.tagged) {
        const pulled = await pullVerified(distribution.url, name, tag);
        assert.ok(pulled.has(digest), `${name}:${tag} through Distribution`);
      }
      for (const reference of [
        fixture.signature.digest,
        fixture.sbom.digest,
        ...fixture.children.map((child) => child.digest),
      ]) {
        await pullVerified(distribution.url, 'compat/app', reference);
      }
    } finally {
      await distribution.close();
    }
    // And Distribution's collector, run next, finds nothing more to delete.
    const before = snapshot(root);
    const again = await distributionGc(root, ['--dry-run']);
    assert.equal(again.code, 0, again.output);
    assert.deepEqual(again.eligible, []);
    assert.deepEqual(snapshot(root), before);
  });
});

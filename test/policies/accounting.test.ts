/**
 * Storage accounting: `GET /_berth/admin/usage`, `berth du` and the UI's storage figures give
 * the bytes each repository and namespace needs (shared layers once), checked against a walk of
 * the storage folder; pushes and deletes are counted without reading the registry again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectCode, berthCli } from '../helpers/cli.js';
import { imageConfig, randomBlob, pushImage } from '../helpers/content.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { imageOf, pushIndex } from '../gc/support.js';
import type { UsageReport } from '../../src/registry/policies/accounting.js';
import { figures, usage, walkUsage, writeConfig } from './support.js';

describe('storage accounting', () => {
  const folders = tempFolders();
  let server: TestBerth;
  const shared = randomBlob(10_000);
  const teamOnly = randomBlob(3_000);

  before(async () => {
    server = await startBerth({ root: folders.make('berth-usage-') });
    // One layer in three repositories of two namespaces, one shared inside team-a only.
    await pushImage(server.url, 'team-a/app', 'v1', imageOf([shared, teamOnly, randomBlob(1_000)]));
    await pushImage(server.url, 'team-a/web', 'v1', imageOf([shared, teamOnly, randomBlob(2_000)]));
    await pushImage(server.url, 'team-b/api', 'v1', imageOf([shared, randomBlob(4_000)]));
    await pushIndex(server.url, 'multi', 'latest', [
      imageOf([randomBlob(500)], 'amd64'),
      imageOf([randomBlob(600)], 'arm64'),
    ]);
  });

  after(async () => {
    await server.close();
    await folders.removeAll();
  });

  it('answers per repository, per namespace and in total as a walk of the storage finds', async () => {
    const report = await usage(server);
    const walked = walkUsage(server.root);
    assert.deepEqual(figures(report), walked);
    const a = report.namespaces.find((namespace) => namespace.name === 'team-a')!;
    // The team-a layer counts once in team-a, and is unique to it; the layer and the (identical)
    // image config team-b uses too are shared.
    assert.equal(a.shared, shared.content.length + imageConfig('linux', 'amd64').content.length);
    assert.equal(report.repositories.find((entry) => entry.name === 'multi')?.manifests, 3);
  });

  it('counts pushes and deletes incrementally, without reading the registry again', async () => {
    const first = await usage(server);
    await pushImage(server.url, 'team-b/api', 'v2', imageOf([shared, randomBlob(7_000)]));
    const pushed = await usage(server);
    assert.equal(pushed.scannedAt, first.scannedAt, 'no new full read');
    assert.deepEqual(figures(pushed), walkUsage(server.root));
    assert.ok(pushed.total.bytes > first.total.bytes + 7_000);

    const web = (await fetch(`${server.url}/v2/team-a/web/manifests/v1`, { method: 'HEAD' })).headers.get(
      'docker-content-digest',
    )!;
    assert.equal((await fetch(`${server.url}/v2/team-a/web/manifests/${web}`, { method: 'DELETE' })).status, 202);
    const deleted = await usage(server);
    assert.equal(deleted.scannedAt, first.scannedAt);
    assert.deepEqual(figures(deleted), walkUsage(server.root));
    // team-a/app now holds the team-a layer alone; team-a/web is listed, holding nothing.
    const app = deleted.repositories.find((entry) => entry.name === 'team-a/app')!;
    assert.equal(app.shared, shared.content.length + imageConfig('linux', 'amd64').content.length);
    assert.equal(deleted.repositories.find((entry) => entry.name === 'team-a/web')?.logical, 0);
  });

  it('filters by repository pattern, and refuses a bad pattern with 400', async () => {
    const report = await usage(server, '?repositories=team-a/**');
    assert.deepEqual(
      report.repositories.map((entry) => entry.name),
      ['team-a/app', 'team-a/web'],
    );
    assert.deepEqual(
      report.namespaces.map((entry) => entry.name),
      ['team-a'],
    );
    const bad = await fetch(`${server.url}/_berth/admin/usage?repositories=a/**b`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /must be a whole path component/);
  });

  it('gives the UI the same totals', async () => {
    const [report, stats] = await Promise.all([
      usage(server),
      fetch(`${server.url}/_berth/api/storage`).then((response) => response.json() as Promise<Record<string, number>>),
    ]);
    assert.equal(stats.bytes, report.total.bytes);
    assert.equal(stats.blobs, report.total.blobs);
    assert.equal(stats.repositories, report.total.repositories);
  });

  it('berth du reads the same figures from storage, as JSON and as a table', async () => {
    const config = writeConfig(folders.make('berth-usage-config-'), server.root);
    const json = expectCode(await berthCli(['du', config, '--json']), 0, 'berth du --json').json() as UsageReport;
    assert.deepEqual(figures(json), walkUsage(server.root));
    const text = expectCode(await berthCli(['du', config, 'team-b/*']), 0, 'berth du').stdout;
    assert.match(text, /^REPOSITORY +LOGICAL +UNIQUE +SHARED +TAGS +MANIFESTS\nteam-b\/api /m);
    assert.doesNotMatch(text, /team-a\/app/);
    assert.match(text, /^total: .* \(\d+ bytes\) in \d+ blobs, 4 repositories/m);
  });
});

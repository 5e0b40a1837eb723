/**
 * Storage accounting kept in storage: every write stores its repository's record at once, so
 * `berth du` in another process and a server starting later read the figures without walking
 * storage; the figures stay those a walk of the storage folder finds, after pushes, mounts,
 * deletes and garbage collection. A folder Distribution (Debian's docker-registry) wrote has no
 * records: they are built from a walk, and what Distribution writes later is found by
 * verification. Read-only mode writes none of it.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { UsageReport } from '../../src/registry/policies/accounting.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { berthCli, expectCode } from '../helpers/cli.js';
import { randomBlob, pushImage, pushManifest } from '../helpers/content.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import { V2 } from '../helpers/files.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { adminGc, imageOf, waitFor } from '../gc/support.js';
import { figures, usage, walkUsage, writeConfig } from './support.js';

const USAGE = join(V2, '_berth', 'usage');

async function du(config: string, ...extra: string[]): Promise<UsageReport> {
  return expectCode(await berthCli(['du', config, '--json', ...extra]), 0, 'berth du --json').json() as UsageReport;
}

function marks(root: string): string[] {
  const folder = join(root, USAGE, 'changes');
  return existsSync(folder) ? readdirSync(folder) : [];
}

async function digestOf(url: string, name: string, tag: string): Promise<string> {
  const response = await fetch(`${url}/v2/${name}/manifests/${tag}`, { method: 'HEAD' });
  assert.equal(response.status, 200, `HEAD ${name}:${tag}`);
  return response.headers.get('docker-content-digest')!;
}

describe('storage accounting records, written by every write', () => {
  const folders = tempFolders();
  let server: TestBerth;
  let config: string;
  let verifiedAt: string;
  const base = randomBlob(8_000);

  before(async () => {
    server = await startBerth({
      root: folders.make('berth-usage-records-'),
      config: { berth: { gc: { graceperiod: '0s' } } },
    });
    config = writeConfig(folders.make('berth-usage-records-config-'), server.root);
    verifiedAt = (await usage(server)).scannedAt; // the empty registry's first walk
  });

  after(async () => {
    await server.close();
    await folders.removeAll();
  });

  it('records a push at once: berth du in another process reads it, without walking storage', async () => {
    await pushImage(server.url, 'team/app', 'v1', imageOf([base, randomBlob(1_000)]));
    assert.ok(existsSync(join(server.root, USAGE, 'repositories', 'team', 'app', '_usage')), 'the record');
    assert.ok(marks(server.root).length > 0, 'a change mark');
    const first = await du(config);
    assert.deepEqual(figures(first), walkUsage(server.root));
    assert.equal(first.scannedAt, verifiedAt, 'no walk: the figures come from the records');

    await pushImage(server.url, 'team/app', 'v2', imageOf([base, randomBlob(2_000)]));
    const second = await du(config);
    assert.deepEqual(figures(second), walkUsage(server.root));
    assert.equal(second.repositories.find((entry) => entry.name === 'team/app')?.manifests, 2);
    assert.deepEqual(figures(await usage(server)), walkUsage(server.root), 'the server agrees');
  });

  it('records a mount: the repository appears, and its image counts the mounted layer as shared', async () => {
    const mount = await fetch(`${server.url}/v2/other/copy/blobs/uploads/?mount=${base.digest}&from=team/app`, {
      method: 'POST',
    });
    assert.equal(mount.status, 201, await mount.text());
    const mounted = await du(config);
    assert.deepEqual(figures(mounted), walkUsage(server.root));
    assert.equal(
      mounted.repositories.find((entry) => entry.name === 'other/copy')?.logical,
      0,
      'layers alone count nothing',
    );

    await pushImage(server.url, 'other/copy', 'v1', imageOf([base]));
    const pushed = await du(config);
    assert.deepEqual(figures(pushed), walkUsage(server.root));
    const copy = pushed.repositories.find((entry) => entry.name === 'other/copy')!;
    assert.ok(copy.shared >= base.content.length, 'the mounted layer is shared with team/app');
  });

  it('records a manifest delete and a garbage collection', async () => {
    const v1 = await digestOf(server.url, 'team/app', 'v1');
    assert.equal((await fetch(`${server.url}/v2/team/app/manifests/${v1}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(figures(await du(config)), walkUsage(server.root));

    // An untagged manifest, which garbage collection with deleteuntagged removes.
    const untagged = imageOf([randomBlob(3_000)]);
    await pushImage(server.url, 'team/app', untagged.digest, untagged);
    const before = await du(config);
    assert.equal(before.repositories.find((entry) => entry.name === 'team/app')?.manifests, 2);
    const report = await adminGc(server.url, 'deleteuntagged=true');
    assert.equal(report.manifestsDeleted, 1);
    const collected = await du(config);
    assert.deepEqual(figures(collected), walkUsage(server.root));
    assert.equal(collected.repositories.find((entry) => entry.name === 'team/app')?.manifests, 1);
    assert.equal(collected.scannedAt, verifiedAt, 'still no walk');
  });

  it('folds the marks into a snapshot, which a server started later reads instead of walking', async () => {
    await server.berth.registry.accounting.compact();
    assert.deepEqual(marks(server.root), [], 'every mark folded in');
    assert.equal(readdirSync(join(server.root, USAGE, 'snapshots')).length, 1);
    assert.deepEqual(figures(await du(config)), walkUsage(server.root));

    const second = await startBerth({ root: server.root });
    try {
      const report = await usage(second);
      assert.deepEqual(figures(report), walkUsage(server.root));
      assert.equal(report.scannedAt, verifiedAt, 'read from the snapshot, not a walk');
      // Each server sees the other's writes at its next answer.
      await pushImage(second.url, 'team/web', 'v1', imageOf([base]));
      assert.deepEqual(figures(await usage(server)), walkUsage(server.root));
    } finally {
      await second.close();
    }
  });

  it('berth du --verify walks storage and finds a repository written without its record', async () => {
    // As a process killed between its links and its record leaves it.
    const repositories = join(server.root, V2, 'repositories');
    cpSync(join(repositories, 'team', 'web'), join(repositories, 'team', 'lost'), { recursive: true });
    const stale = await du(config);
    assert.equal(
      stale.repositories.find((entry) => entry.name === 'team/lost'),
      undefined,
    );
    const verified = await du(config, '--verify');
    assert.deepEqual(figures(verified), walkUsage(server.root));
    assert.notEqual(verified.scannedAt, verifiedAt, 'walked');
    assert.deepEqual(figures(await usage(server)), walkUsage(server.root), 'the server reads the repair');
  });
});

describe('storage accounting in read-only mode', () => {
  const folders = tempFolders();

  it('reads the figures from a walk into memory when storage holds no records, and writes nothing', async () => {
    const writable = await startBerth({ root: folders.make('berth-usage-readonly-') });
    await pushImage(writable.url, 'ro/app', 'v1', imageOf([randomBlob(2_000)]));
    await writable.close({ keepRoot: true });
    rmSync(join(writable.root, USAGE), { recursive: true });
    const readOnly = { storage: { maintenance: { readonly: { enabled: true } } } };
    const server = await startBerth({ root: writable.root, config: readOnly });
    try {
      assert.deepEqual(figures(await usage(server)), walkUsage(writable.root));
      const config = join(folders.make('berth-usage-readonly-config-'), 'config.yml');
      writeFileSync(
        config,
        JSON.stringify({
          version: '0.1',
          storage: { filesystem: { rootdirectory: writable.root }, ...readOnly.storage },
        }),
      );
      assert.deepEqual(figures(await du(config)), walkUsage(writable.root));
      assert.equal(existsSync(join(writable.root, USAGE)), false, 'no records written');
    } finally {
      await server.close();
      await folders.removeAll();
    }
  });
});

describeWithTools('storage accounting of a folder Distribution writes', [tools.distribution()], () => {
  const folders = tempFolders();
  after(() => folders.removeAll());

  it('builds the records from a walk, and verification finds what Distribution wrote since', async () => {
    const root = folders.make('berth-usage-distribution-');
    const config = writeConfig(folders.make('berth-usage-distribution-config-'), root);
    const shared = randomBlob(6_000);
    const one = imageOf([shared, randomBlob(1_000)]);
    let distribution = await startDockerRegistry({ root });
    try {
      await pushImage(distribution.url, 'dist/one', 'v1', one);
      await pushImage(distribution.url, 'dist/two', 'v1', imageOf([shared, randomBlob(2_000)]));
    } finally {
      await distribution.close();
    }
    const built = await du(config);
    assert.deepEqual(figures(built), walkUsage(root), 'built from a walk');
    assert.equal(built.repositories.length, 2);

    distribution = await startDockerRegistry({ root });
    try {
      await pushImage(distribution.url, 'dist/three', 'v1', imageOf([shared]));
      assert.equal(
        (await fetch(`${distribution.url}/v2/dist/one/manifests/${one.digest}`, { method: 'DELETE' })).status,
        202,
      );
    } finally {
      await distribution.close();
    }
    const unverified = await du(config);
    assert.equal(
      unverified.repositories.some((entry) => entry.name === 'dist/three'),
      false,
      'Distribution writes no records',
    );
    assert.deepEqual(figures(await du(config, '--verify')), walkUsage(root));
  });

  it('a server verifies in the background every berth.accounting.rescan, while Distribution writes beside it', async () => {
    const root = folders.make('berth-usage-distribution-live-');
    const server = await startBerth({ root, config: { berth: { accounting: { rescan: '1s' } } } });
    const distribution = await startDockerRegistry({ root });
    try {
      await pushImage(server.url, 'berth/app', 'v1', imageOf([randomBlob(1_500)]));
      assert.deepEqual(figures(await usage(server)), walkUsage(root));
      const image = imageOf([randomBlob(2_500)]);
      await pushImage(distribution.url, 'dist/live', 'v1', image);
      assert.equal(
        (await pushManifest(distribution.url, 'dist/live', 'v2', image.manifest, image.mediaType)).status,
        201,
      );
      await waitFor(async () => {
        const report = await usage(server);
        return report.repositories.some((entry) => entry.name === 'dist/live' && entry.tags === 2);
      }, 'the verification walk finds dist/live');
      assert.deepEqual(figures(await usage(server)), walkUsage(root));
      assert.deepEqual(figures(await du(writeConfig(folders.make('berth-usage-live-config-'), root))), walkUsage(root));
    } finally {
      await distribution.close();
      await server.close();
    }
  });
});

/**
 * `berth garbage-collect` as operators run it: a separate process over a folder Berth wrote,
 * printing Distribution's lines. `--dry-run` reports exactly what a real run then deletes and
 * changes nothing on disk (not even a coordination file); a real run prints what it freed and
 * logs its figures on stderr; bad arguments exit 2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { startBerth, tempDir } from '../helpers/berth.js';
import { makeImage, pushImage, randomBlob } from '../helpers/content.js';
import { run, type RunResult } from '../helpers/tools.js';
import { imageOf, snapshot, storedBlobs } from './support.js';

function berth(args: string[]): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO_ROOT,
    allowFailure: true,
    timeout: 60_000,
  });
}

describe('berth garbage-collect', () => {
  let root: string;
  let config: string;
  let garbage: string[];
  let garbageBytes: number;
  let kept: { tagged: string; untagged: string };

  before(async () => {
    root = tempDir('berth-gc-cli-');
    const server = await startBerth({ root });
    const shared = randomBlob(800);
    const keep = imageOf([shared, randomBlob(810)]);
    const drop = imageOf([shared, randomBlob(820)]);
    const untagged = makeImage({ layers: 1 });
    await pushImage(server.url, 'cli/app', 'keep', keep);
    await pushImage(server.url, 'cli/app', 'drop', drop);
    await pushImage(server.url, 'cli/other', untagged.digest, untagged);
    assert.equal((await fetch(`${server.url}/v2/cli/app/manifests/${drop.digest}`, { method: 'DELETE' })).status, 202);
    await server.close({ keepRoot: true });
    garbage = [drop.digest, drop.layers[1]!.digest].sort();
    const sizes = storedBlobs(root);
    garbageBytes = garbage.reduce((sum, digest) => sum + sizes.get(digest)!, 0);
    kept = { tagged: keep.digest, untagged: untagged.digest };
    config = join(tempDir('berth-gc-cli-config-'), 'config.yml');
    writeFileSync(config, `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n`);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("--dry-run prints what it would delete, in Distribution's format, and changes nothing", async () => {
    const before = snapshot(root);
    const result = await berth(['garbage-collect', config, '--dry-run', '--grace-period', '0s']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    for (const repository of ['cli/app', 'cli/other']) assert.ok(lines.includes(repository), `names ${repository}`);
    assert.ok(lines.includes(`cli/app: marking manifest ${kept.tagged} `));
    assert.ok(
      lines.some((line) => /^\d+ blobs marked, 2 blobs and 0 manifests eligible for deletion$/.test(line)),
      result.stdout,
    );
    const eligible = lines
      .filter((line) => line.startsWith('blob eligible for deletion: '))
      .map((line) => line.slice(28));
    assert.deepEqual(eligible, garbage);
    assert.ok(
      lines.includes(`dry run: 2 blobs (${garbageBytes} bytes) and 0 manifests would be deleted`),
      result.stdout,
    );
    assert.deepEqual(snapshot(root), before, 'nothing on disk changed');
  });

  it('keeps what is younger than the grace period (24h by default); --json prints the report', async () => {
    const result = await berth(['garbage-collect', config, '--dry-run', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      gracePeriodMs: number;
      blobsYoung: number;
      blobsEligible: number;
      dryRun: boolean;
    };
    assert.deepEqual(report.gracePeriodMs, 24 * 3_600_000);
    assert.deepEqual([report.dryRun, report.blobsYoung, report.blobsEligible], [true, 2, 0]);
  });

  it('--delete-untagged --dry-run names the untagged manifest', async () => {
    const result = await berth(['garbage-collect', config, '-d', '-m', '--grace-period', '0s']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.split('\n').includes(`manifest eligible for deletion: ${kept.untagged}`), result.stdout);
    assert.match(result.stdout, /blobs and 1 manifests eligible for deletion$/m);
  });

  it('a real run deletes exactly those blobs, says how many bytes it freed, and logs its figures', async () => {
    const before = storedBlobs(root);
    const result = await berth(['garbage-collect', config, '--grace-period', '0s']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      result.stdout.includes(`deleted 2 blobs (${garbageBytes} bytes freed), 0 manifests and 1 layer links`),
      result.stdout,
    );
    const after = storedBlobs(root);
    assert.deepEqual([...before.keys()].filter((digest) => !after.has(digest)).sort(), garbage);
    const log = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg: string; gc?: { bytesFreed: number } });
    assert.equal(log.find((line) => line.msg === 'garbage collection finished')?.gc?.bytesFreed, garbageBytes);
  });

  it('refuses a bad grace period (exit 2) and a missing storage folder (exit 1)', async () => {
    const bad = await berth(['garbage-collect', config, '--grace-period', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--grace-period "soon" is not a duration/);
    const missingConfig = join(tempDir('berth-gc-cli-missing-'), 'config.yml');
    writeFileSync(
      missingConfig,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(root, 'nowhere')}\n`,
    );
    const missing = await berth(['garbage-collect', missingConfig, '--dry-run']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
    assert.equal(existsSync(join(root, 'nowhere')), false);
  });
});

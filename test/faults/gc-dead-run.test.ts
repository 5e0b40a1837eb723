/**
 * A collection run killed mid-sweep (`kill -9` of `berth garbage-collect`) holds no writer: its
 * process is gone from this host, so a manifest PUT relying on a digest in its tombstone goes on
 * at once; the next run and the next start-up remove its tombstone and run file. A run of
 * another host that stopped renewing its run file is dead after a few seconds. The bound against
 * hangs below is far under the ten minutes a writer used to wait.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { cliCommand } from '../helpers/cli.js';
import { asBody, makeImage, pushBlob } from '../helpers/content.js';
import { V2 } from '../helpers/files.js';
import { adminGc, pullVerified, writeTombstone } from '../gc/support.js';

const NOW = { berth: { gc: { graceperiod: '0s' } } };
const GC = join(V2, '_berth', 'gc');

/** `count` unreferenced blobs written straight into the tree, an hour old: work for a sweep. */
function seedGarbage(root: string, count: number): void {
  const hour = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(32).toString('hex');
    const folder = join(root, V2, 'blobs', 'sha256', hex.slice(0, 2), hex);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'data'), hex);
    utimesSync(join(folder, 'data'), hour, hour);
  }
}

const entries = (root: string, folder: string) => {
  const path = join(root, GC, folder);
  return existsSync(path) ? readdirSync(path) : [];
};

/** Starts `berth garbage-collect` on `root` and kills it with SIGKILL once its tombstone is written. */
async function killMidSweep(root: string): Promise<void> {
  const config = join(tempDir('berth-gc-config-'), 'config.yml');
  writeFileSync(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n`);
  const [command, ...args] = cliCommand();
  const child = spawn(command!, [...args, 'garbage-collect', config, '--grace-period', '0s', '--quiet'], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (entries(root, 'tombstones').length === 0) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail('the run never reached its sweep');
    }
    await sleep(2);
  }
  child.kill('SIGKILL');
  await exited;
  assert.equal(entries(root, 'tombstones').length, 1, 'the killed run left its tombstone');
}

/** A manifest PUT; returns its status and how long it took. */
async function timedPut(url: string, name: string, image: ReturnType<typeof makeImage>) {
  const began = performance.now();
  // Bounded: a writer that waits out a dead run's lease fails here rather than hanging the suite.
  const response = await fetch(`${url}/v2/${name}/manifests/v1`, {
    method: 'PUT',
    body: asBody(image.manifest),
    headers: { 'Content-Type': image.mediaType },
    signal: AbortSignal.timeout(15_000),
  });
  await response.arrayBuffer();
  return { status: response.status, ms: Math.round(performance.now() - began) };
}

describe('a collection run that died', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('killed mid-sweep: writers go on at once, and the next run removes what it left', async (t) => {
    const { url, root } = server;
    const image = makeImage({ layers: 2 });
    // Stored but not yet referenced: candidates the killed run has in its tombstone.
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'dead/run', blob);
    seedGarbage(root, 4000);
    await killMidSweep(root);
    const tombstone = entries(root, 'tombstones')[0]!;
    assert.ok(entries(root, 'runs').includes(tombstone), 'and its run file');

    let put = await timedPut(url, 'dead/run', image);
    t.diagnostic(`manifest PUT beside the dead run's tombstone: ${put.status} in ${put.ms} ms`);
    assert.ok(put.ms < 5_000, `the PUT did not wait for the dead run (${put.ms} ms)`);
    if (put.status === 400) {
      // The run deleted some of them before it died: the client uploads them again.
      for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'dead/run', blob);
      put = await timedPut(url, 'dead/run', image);
    }
    assert.equal(put.status, 201);

    const report = await adminGc(url);
    assert.equal(report.leftoversRemoved.tombstones, 1);
    assert.equal(report.leftoversRemoved.runs, 1);
    assert.deepEqual(entries(root, 'tombstones'), []);
    assert.deepEqual(entries(root, 'runs'), []);
    await pullVerified(url, 'dead/run', 'v1');
  });

  it('a run of another host whose run file is not renewed holds writers a few seconds at most', async (t) => {
    const { url, root } = server;
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'dead/elsewhere', blob);
    writeTombstone(root, 'run-elsewhere', [image.layers[0]!.digest], { pid: 1, host: 'another-host' });
    const put = await timedPut(url, 'dead/elsewhere', image);
    t.diagnostic(`manifest PUT beside a run that stopped renewing: ${put.status} in ${put.ms} ms`);
    assert.equal(put.status, 201);
    assert.ok(put.ms < 9_000, `bounded wait (${put.ms} ms)`);
  });
});

describe('a live run that does not move on', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: NOW })));
  after(() => server.close());

  it('a writer waits at most its bound, then answers 503 with Retry-After, and has written nothing', async () => {
    const { url, root } = server;
    const image = makeImage({ layers: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(url, 'stuck/run', blob);
    const runFile = join(root, GC, 'runs', 'run-stuck');
    writeTombstone(root, 'run-stuck', [image.layers[0]!.digest], { pid: 1, host: 'another-host' });
    // Renewed, so alive, but never ending a batch (a storage call that hangs in its sweep).
    let beat = 1;
    const renewing = setInterval(() => {
      writeFileSync(
        runFile,
        JSON.stringify({ run: 'run-stuck', pid: 1, host: 'another-host', epoch: 0, beat: ++beat }),
      );
    }, 300);
    try {
      const response = await fetch(`${url}/v2/stuck/run/manifests/v1`, {
        method: 'PUT',
        body: asBody(image.manifest),
        headers: { 'Content-Type': image.mediaType },
        signal: AbortSignal.timeout(30_000),
      });
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('retry-after'), '5');
      const body = (await response.json()) as { errors: Array<{ message: string }> };
      assert.match(body.errors[0]!.message, /garbage collection is deleting content this write relies on/);
      assert.equal((await fetch(`${url}/v2/stuck/run/manifests/v1`)).status, 404, 'nothing was written');
    } finally {
      clearInterval(renewing);
    }
  });
});

describe('start-up after a killed run', () => {
  it('removes the dead run’s tombstone and run file', async () => {
    const root = tempDir();
    seedGarbage(root, 4000);
    await killMidSweep(root);
    const server = await startBerth({ root });
    try {
      const deadline = Date.now() + 5_000;
      while (entries(root, 'tombstones').length > 0 || entries(root, 'runs').length > 0) {
        if (Date.now() > deadline) assert.fail(`left: ${entries(root, 'tombstones')} ${entries(root, 'runs')}`);
        await sleep(20);
      }
    } finally {
      await server.close();
    }
  });
});

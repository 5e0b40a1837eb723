/**
 * No walk holds the event loop: garbage collection, the catalog's walk, upload purging and a
 * large tag listing over a large tree leave the event loop free every few milliseconds
 * (storage/pace.ts), measured with perf_hooks.monitorEventLoopDelay while a blob HEAD is sent
 * meanwhile. The bound asserted is far above what is measured (reported as diagnostics) and far
 * under what a synchronous walk of this tree costs, so it fails on a walk that never yields
 * without timing anything finely.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { purgeUploads } from '../../src/registry/upload-purger.js';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { pushBlob, randomBlob } from '../helpers/content.js';
import { repositoryPath, V2 } from '../helpers/files.js';

const REPOSITORIES = Number(process.env.BERTH_EVENT_LOOP_REPOSITORIES ?? 5_000);
const TAGS = 5_000;
/**
 * Far above what is measured (a few ms of the walks themselves; tens of ms of scheduling and heap
 * collection on a loaded two-core machine), far under a synchronous walk of this tree (seconds).
 */
const BOUND_MS = 750;

/**
 * Writes `count` repositories, each with one layer link (and a tenth with an upload), straight
 * into the tree; a tenth of the blobs are two days old, the collection's candidates.
 */
function seedTree(root: string, count: number): void {
  const old = new Date(Date.now() - 2 * 86_400_000);
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(32).toString('hex');
    const repository = repositoryPath(root, `big/team${i % 100}/repo${i}`);
    const link = join(repository, '_layers', 'sha256', hex);
    mkdirSync(link, { recursive: true });
    writeFileSync(join(link, 'link'), `sha256:${hex}`);
    const blob = join(root, V2, 'blobs', 'sha256', hex.slice(0, 2), hex);
    mkdirSync(blob, { recursive: true });
    writeFileSync(join(blob, 'data'), hex);
    if (i % 10 === 0) for (const file of [join(link, 'link'), join(blob, 'data')]) utimesSync(file, old, old);
    if (i % 10 === 0) mkdirSync(join(repository, '_uploads', crypto.randomUUID()), { recursive: true });
  }
}

function seedTags(root: string, name: string, digest: string, count: number): void {
  const tags = join(repositoryPath(root, name), '_manifests', 'tags');
  for (let i = 0; i < count; i++) {
    const current = join(tags, `t${i}`, 'current');
    mkdirSync(current, { recursive: true });
    writeFileSync(join(current, 'link'), digest);
  }
}

/**
 * The longest time the event loop went without a turn, and how much CPU time the process spent
 * in it (process.cpuUsage: the main thread and V8's and libuv's helpers). On a machine whose
 * other work keeps the cores busy, a long delay with little CPU is this process waiting for a
 * core, not this process holding its event loop.
 */
interface Stretch {
  wallMs: number;
  cpuMs: number;
}

function stretches(): { stop(): { longest: Stretch; busiest: Stretch } } {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let longest: Stretch = { wallMs: 0, cpuMs: 0 };
  let busiest: Stretch = { wallMs: 0, cpuMs: 0 };
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const stretch = { wallMs: now - last, cpuMs: (cpu.user + cpu.system) / 1000 };
    if (stretch.wallMs > longest.wallMs) longest = stretch;
    if (stretch.cpuMs > busiest.cpuMs) busiest = stretch;
    last = now;
    lastCpu = process.cpuUsage();
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return { longest, busiest };
    },
  };
}

/** Runs `work` while measuring the event loop's delay and one blob HEAD's latency. */
async function measured(t: TestContext, server: TestBerth, what: string, work: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const watch = stretches();
  const began = performance.now();
  const running = work();
  await sleep(5);
  const headStart = performance.now();
  const head = await fetch(`${server.url}/v2/probe/blobs/${probe.digest}`, { method: 'HEAD' });
  const headMs = performance.now() - headStart;
  await running;
  const totalMs = performance.now() - began;
  histogram.disable();
  const { longest, busiest } = watch.stop();
  const maxMs = histogram.max / 1e6;
  t.diagnostic(
    `${what}: ${Math.round(totalMs)} ms in all; event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms (the longest stretch without a turn: ${longest.wallMs.toFixed(1)} ms, with ${longest.cpuMs.toFixed(1)} ms of CPU; the most CPU in one stretch: ${busiest.cpuMs.toFixed(1)} ms in ${busiest.wallMs.toFixed(1)} ms); a blob HEAD meanwhile took ${headMs.toFixed(1)} ms; load average ${loadavg()[0]!.toFixed(1)}`,
  );
  assert.equal(head.status, 200);
  assert.ok(maxMs < BOUND_MS, `${what}: the event loop was held for ${maxMs.toFixed(1)} ms`);
  assert.ok(headMs < BOUND_MS, `${what}: a blob HEAD waited ${headMs.toFixed(1)} ms`);
}

const probe = randomBlob(1000);

describe(`walks over ${REPOSITORIES} repositories do not hold the event loop`, () => {
  let server: TestBerth;
  before(async () => {
    server = await startBerth();
    await pushBlob(server.url, 'probe', probe);
    seedTree(server.root, REPOSITORIES);
    seedTags(server.root, 'probe', probe.digest, TAGS);
  });
  after(() => server.close());

  it('the catalog walk garbage collection uses', async (t) => {
    const names = await (async () => {
      let found: string[] = [];
      await measured(t, server, 'catalog walk', async () => (found = await server.berth.registry.catalog.all()));
      return found;
    })();
    assert.ok(names.length >= REPOSITORIES);
  });

  it('upload purging', async (t) => {
    let purged = 0;
    await measured(t, server, 'upload purging walk', async () => {
      purged = (
        await purgeUploads(server.berth.registry.driver, { age: 0, dryRun: true, now: new Date(Date.now() + 60_000) })
      ).length;
    });
    assert.ok(purged >= REPOSITORIES / 10);
  });

  it(`a tag listing of ${TAGS} tags`, async (t) => {
    let tags = 0;
    await measured(t, server, 'tags/list', async () => {
      const reply = await fetch(`${server.url}/v2/probe/tags/list`);
      tags = ((await reply.json()) as { tags: string[] }).tags.length;
    });
    assert.equal(tags, TAGS);
  });

  it('a garbage collection run (mark and sweep)', async (t) => {
    let deleted = 0;
    await measured(t, server, 'garbage collection', async () => {
      const reply = await fetch(`${server.url}/_berth/admin/gc`, { method: 'POST' });
      deleted = ((await reply.json()) as { blobsDeleted: number }).blobsDeleted;
    });
    assert.equal(deleted, REPOSITORIES / 10);
  });
});

/**
 * A real Prometheus (Debian's `prometheus`) scrapes `berth serve` with worker processes: its
 * query API shows registry_http_requests_total{handler="manifest"} rising after a skopeo pull,
 * and each scrape is the sum over every process (requests served by a worker are counted too).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { serveBerth, type BerthProcess, waitForExit } from '../helpers/berth-process.js';
import { tempFolders } from '../helpers/berth.js';
import { asPromQL, dashboardQueries } from '../helpers/dashboard.js';
import { scrape, sumOf } from '../helpers/metrics.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { pullToLayout, pushLayout } from '../helpers/skopeo.js';
import { describeWithTools, freePort, tools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const folders = tempFolders();

/** One number from Prometheus' query API (0 when the query has no result yet). */
async function query(prometheus: string, expression: string): Promise<number> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expression)}`);
  const body = (await response.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  assert.equal(body.status, 'success');
  return body.data.result.length === 0 ? 0 : Number(body.data.result[0]!.value[1]);
}

async function eventually(
  read: () => Promise<number>,
  ready: (value: number) => boolean,
  what: string | (() => string),
) {
  let last = Number.NaN;
  for (let attempt = 0; attempt < 60; attempt++) {
    last = await read().catch(() => Number.NaN);
    if (ready(last)) return last;
    await sleep(500);
  }
  throw new Error(`${typeof what === 'string' ? what : what()}: still ${last} after 30 s`);
}

describeWithTools('Prometheus scrapes berth serve', [tools.prometheus(), tools.skopeo()], () => {
  let berth: BerthProcess & { url: string };
  let prometheusProcess: ChildProcess;
  let prometheus: string;
  let metricsUrl: string;
  let prometheusLog = '';
  let host: string;

  before(async () => {
    const folder = folders.make('berth-prometheus-');
    const [port, debugPort, prometheusPort] = [await freePort(), await freePort(), await freePort()];
    host = `127.0.0.1:${port}`;
    metricsUrl = `http://127.0.0.1:${debugPort}/metrics`;
    const config = join(folder, 'config.yml');
    writeFileSync(
      config,
      stringify({
        version: 0.1,
        storage: { filesystem: { rootdirectory: join(folder, 'data') } },
        http: { addr: host, debug: { addr: `127.0.0.1:${debugPort}`, prometheus: { enabled: true } } },
        berth: { workers: 2 },
      }),
    );
    berth = await serveBerth({ args: ['serve', config] });
    // Both processes up: a connection lands on the worker once it listens (its access lines say so).
    await waitFor(async () => {
      await (await fetch(`http://${host}/v2/`, { headers: { Connection: 'close' } })).arrayBuffer();
      return berth.lines.some((line) => line.url === '/v2/' && line.worker !== undefined);
    }, 'the worker process serving');
    const scrapeConfig = join(folder, 'prometheus.yml');
    writeFileSync(
      scrapeConfig,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        scrape_configs: [{ job_name: 'berth', static_configs: [{ targets: [`127.0.0.1:${debugPort}`] }] }],
      }),
    );
    prometheus = `http://127.0.0.1:${prometheusPort}`;
    prometheusProcess = spawn(
      'prometheus',
      [
        `--config.file=${scrapeConfig}`,
        `--storage.tsdb.path=${join(folder, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheusProcess.stderr!.on('data', (chunk: Buffer) => {
      prometheusLog = (prometheusLog + chunk.toString()).slice(-10_000);
    });
    await eventually(
      () => query(prometheus, 'up{job="berth"}'),
      (value) => value === 1,
      // NaN: Prometheus does not answer (it says why in its log, e.g. its port was taken meanwhile).
      () =>
        `Prometheus scraping Berth (prometheus ${prometheusProcess.exitCode === null ? 'running' : `exited ${prometheusProcess.exitCode}`}; log: ${prometheusLog.slice(-2000)})`,
    );
  });

  after(async () => {
    prometheusProcess?.kill('SIGTERM');
    if (berth) {
      berth.kill('SIGTERM');
      await waitForExit(berth);
    }
    await folders.removeAll();
  });

  it('shows registry_http_requests_total{handler="manifest"} rising after a skopeo pull', async () => {
    const layout = await OciLayout.create(folders.make('berth-prometheus-layout-'));
    const image = await layout.writeImage({ label: 'metrics' });
    await layout.tag(image.manifest, 'v1');
    await pushLayout(layout.dir, 'v1', `${host}/observed/app:v1`);
    const expression = 'sum(registry_http_requests_total{handler="manifest",method="get",code="200"})';
    // Wait for a scrape after the push (Prometheus shows what Berth counts now), so the pull's
    // rise is its own.
    const counted = sumOf((await scrape(metricsUrl)).exposition, 'registry_http_requests_total', {
      handler: 'manifest',
      method: 'get',
      code: '200',
    });
    const before = await eventually(
      () => query(prometheus, expression),
      (value) => value === counted,
      `${expression} scraped after the push (Berth counts ${counted})`,
    );
    await pullToLayout(`${host}/observed/app:v1`, folders.make('berth-prometheus-pulled-'), 'v1');
    const afterPull = await eventually(
      () => query(prometheus, expression),
      (value) => value > before,
      `${expression} (before the pull: ${before}); prometheus log: ${prometheusLog.slice(-2000)}`,
    );
    assert.ok(afterPull > before);
    assert.ok((await query(prometheus, 'sum(registry_storage_action_seconds_count{driver="filesystem"})')) > 0);
  });

  it('one scrape counts the requests of every process', async () => {
    const before = sumOf((await scrape(metricsUrl)).exposition, 'registry_http_requests_total', { handler: 'base' });
    const linesBefore = berth.lines.length;
    const requests = 40;
    for (let index = 0; index < requests; index++) {
      // A fresh connection each time, so the kernel spreads them over the processes.
      const response = await fetch(`http://${host}/v2/`, { headers: { Connection: 'close' } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    const servedNow = () => berth.lines.slice(linesBefore).filter((line) => line.url === '/v2/');
    // The worker's access lines come through the first process's output.
    await waitFor(() => servedNow().length >= requests, `${requests} access lines`);
    const served = servedNow();
    const byWorker = served.filter((line) => line.worker !== undefined).length;
    const counted =
      sumOf((await scrape(metricsUrl)).exposition, 'registry_http_requests_total', { handler: 'base' }) - before;
    assert.equal(counted, requests, `${byWorker} of ${served.length} access lines came from the worker`);
    assert.ok(byWorker > 0 && byWorker < requests, `requests spread over both processes (${byWorker} by the worker)`);
  });

  it('accepts every query of the Grafana dashboard', async () => {
    for (const { panel, expr } of dashboardQueries()) {
      const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(asPromQL(expr))}`);
      const body = (await response.json()) as { status: string; error?: string };
      assert.equal(body.status, 'success', `${panel}: ${expr}: ${body.error}`);
    }
  });
});

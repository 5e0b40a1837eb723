/**
 * Prometheus metrics on the debug listener (`http.debug.prometheus`): Distribution's families,
 * named and labelled as Distribution names them (checked against Debian's docker-registry serving
 * the same configuration for the same requests), counted by route, accepted by `promtool check
 * metrics`, and never served on the registry's own port.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { dashboardQueries, metricNames } from '../helpers/dashboard.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { type Exposition, familyOf, scrape, sumOf } from '../helpers/metrics.js';
import { describeWithTools, freePort, tools } from '../helpers/tools.js';

const DEBUG = { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true, path: '/metrics' } } };

/** The same requests for both registries: a push, pulls, HEADs, listings and misses. */
async function exercise(url: string): Promise<void> {
  const image = makeImage({ layers: 1 });
  await pushImage(url, 'metrics/app', 'v1', image);
  const requests: Array<[string, string, Record<string, string>?]> = [
    ['GET', '/v2/'],
    ['GET', '/v2/metrics/app/manifests/v1', { Accept: image.mediaType }],
    ['HEAD', '/v2/metrics/app/manifests/v1', { Accept: image.mediaType }],
    ['GET', `/v2/metrics/app/blobs/${image.layers[0]!.digest}`],
    ['HEAD', `/v2/metrics/app/blobs/${image.config.digest}`],
    ['GET', '/v2/metrics/app/tags/list'],
    ['GET', '/v2/_catalog'],
    ['GET', '/v2/metrics/app/manifests/missing'],
  ];
  for (const [method, path, headers] of requests) {
    const response = await fetch(`${url}${path}`, { method, headers });
    await response.arrayBuffer();
  }
}

/** Family → label names of its samples (le and quantile aside), for the registry_ families. */
function shapeOf(exposition: Exposition): Map<string, string> {
  const shape = new Map<string, Set<string>>();
  for (const sample of exposition.samples) {
    if (!sample.name.startsWith('registry_')) continue;
    const family = familyOf(exposition, sample.name);
    const labels = Object.keys(sample.labels)
      .filter((label) => label !== 'le')
      .sort()
      .join(',');
    shape.set(family, (shape.get(family) ?? new Set()).add(labels));
  }
  return new Map(
    [...shape].map(([family, labels]) => [`${family} (${exposition.types.get(family)})`, [...labels].join(' | ')]),
  );
}

/** `handler method code ×count` of every request counted since `before` (one process counts for all its servers). */
function requestSeries(exposition: Exposition, before?: Exposition): string[] {
  const series = (sample: Exposition['samples'][number]) =>
    `${sample.labels.handler} ${sample.labels.method} ${sample.labels.code}`;
  const earlier = new Map(
    (before?.samples ?? [])
      .filter((sample) => sample.name === 'registry_http_requests_total')
      .map((s) => [series(s), s.value]),
  );
  return exposition.samples
    .filter((sample) => sample.name === 'registry_http_requests_total')
    .map((sample) => [series(sample), sample.value - (earlier.get(series(sample)) ?? 0)] as const)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ×${count}`)
    .sort();
}

describe('metrics on the debug listener', () => {
  let server: TestBerth;
  let metricsUrl: string;

  before(async () => {
    server = await startBerth({ config: { http: DEBUG } });
    metricsUrl = `http://127.0.0.1:${server.berth.debugPort}/metrics`;
  });
  after(() => server.close());

  it('counts requests by Distribution route name, method and status', async () => {
    const before = (await scrape(metricsUrl)).exposition;
    await exercise(server.url);
    const { exposition } = await scrape(metricsUrl);
    const delta = (labels: Record<string, string>) =>
      sumOf(exposition, 'registry_http_requests_total', labels) - sumOf(before, 'registry_http_requests_total', labels);
    assert.equal(delta({ handler: 'manifest', method: 'get', code: '200' }), 1);
    assert.equal(delta({ handler: 'manifest', method: 'head', code: '200' }), 1);
    assert.equal(delta({ handler: 'manifest', method: 'put', code: '201' }), 1);
    assert.equal(delta({ handler: 'manifest', method: 'get', code: '404' }), 1);
    assert.equal(delta({ handler: 'blob_upload', method: 'post', code: '202' }), 2);
    assert.equal(delta({ handler: 'blob_upload_chunk', method: 'put', code: '201' }), 2);
    assert.equal(delta({ handler: 'blob', method: 'get', code: '200' }), 1);
    assert.equal(delta({ handler: 'base', method: 'get', code: '200' }), 1);
    assert.equal(delta({ handler: 'catalog', method: 'get', code: '200' }), 1);
    assert.equal(sumOf(exposition, 'registry_http_in_flight_requests'), 0, 'nothing is in flight after the requests');
    // Each histogram counted each request once.
    const manifestRequests = sumOf(exposition, 'registry_http_requests_total', { handler: 'manifest' });
    assert.equal(
      sumOf(exposition, 'registry_http_request_duration_seconds_count', { handler: 'manifest' }),
      manifestRequests,
    );
    assert.equal(
      sumOf(exposition, 'registry_http_response_size_bytes_count', { handler: 'manifest' }),
      manifestRequests,
    );
    // The layer GET sent its 512 bytes; HEAD answers count no body.
    assert.ok(sumOf(exposition, 'registry_http_response_size_bytes_sum', { handler: 'blob' }) >= 512);
    assert.ok(sumOf(exposition, 'berth_http_sent_bytes_total', { handler: 'blob' }) > 512);
    assert.ok(sumOf(exposition, 'berth_http_received_bytes_total', { handler: 'blob_upload_chunk' }) > 512);
    assert.ok(
      sumOf(exposition, 'registry_storage_action_seconds_count', { driver: 'filesystem', action: 'GetContent' }) > 0,
    );
    assert.ok(sumOf(exposition, 'registry_storage_action_seconds_count', { driver: 'filesystem', action: 'Move' }) > 0);
  });

  it("serves metrics only on the debug listener, and Go's 404 for other paths there", async () => {
    const main = await fetch(`${server.url}/metrics`);
    assert.equal(main.status, 404);
    assert.match(main.headers.get('content-type') ?? '', /json/);
    await main.arrayBuffer();
    const other = await fetch(`http://127.0.0.1:${server.berth.debugPort}/nothing`);
    assert.equal(other.status, 404);
    assert.equal(await other.text(), '404 page not found\n');
    const metrics = await fetch(metricsUrl);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    await metrics.arrayBuffer();
  });

  it('serves /debug/health as {} with no checks configured', async () => {
    const response = await fetch(`http://127.0.0.1:${server.berth.debugPort}/debug/health`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '{}');
  });
});

describe('no metrics unless enabled', () => {
  it('a debug listener without prometheus serves /debug/health but no metrics', async () => {
    const server = await startBerth({ config: { http: { debug: { addr: '127.0.0.1:0' } } } });
    try {
      const metrics = await fetch(`http://127.0.0.1:${server.berth.debugPort}/metrics`);
      assert.equal(metrics.status, 404);
      await metrics.arrayBuffer();
      const health = await fetch(`http://127.0.0.1:${server.berth.debugPort}/debug/health`);
      assert.equal(health.status, 200);
      await health.arrayBuffer();
    } finally {
      await server.close();
    }
  });
});

describeWithTools('metrics against Distribution and promtool', [tools.distribution(), tools.promtool()], () => {
  let berth: TestBerth;
  let distribution: TestDockerRegistry;
  let distributionMetrics: string;

  before(async () => {
    const port = await freePort();
    berth = await startBerth({ config: { http: DEBUG } });
    distribution = await startDockerRegistry({
      config: { http: { debug: { addr: `127.0.0.1:${port}`, prometheus: { enabled: true, path: '/metrics' } } } },
    });
    distributionMetrics = `http://127.0.0.1:${port}/metrics`;
  });
  after(async () => {
    await berth?.close();
    await distribution?.close();
  });

  it('serves the families, labels and request series Distribution serves for the same requests', async () => {
    const earlier = (await scrape(`http://127.0.0.1:${berth.berth.debugPort}/metrics`)).exposition;
    await exercise(berth.url);
    await exercise(distribution.url);
    const ours = (await scrape(`http://127.0.0.1:${berth.berth.debugPort}/metrics`)).exposition;
    const theirs = (await scrape(distributionMetrics)).exposition;
    assert.deepEqual(Object.fromEntries(shapeOf(ours)), Object.fromEntries(shapeOf(theirs)));
    assert.deepEqual(requestSeries(ours, earlier), requestSeries(theirs));
    const driver = (exposition: Exposition) =>
      new Set(exposition.samples.filter((s) => s.name.startsWith('registry_storage_')).map((s) => s.labels.driver));
    assert.deepEqual(driver(ours), driver(theirs));
  });

  it('promtool check metrics accepts the output', async () => {
    const { text } = await scrape(`http://127.0.0.1:${berth.berth.debugPort}/metrics`);
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  });
});

describe("Berth's own metrics", () => {
  let server: TestBerth;
  let metricsUrl: string;

  before(async () => {
    server = await startBerth({
      config: { http: DEBUG, berth: { ratelimit: { requests: '12/1m' }, gc: { graceperiod: '0s' } } },
    });
    metricsUrl = `http://127.0.0.1:${server.berth.debugPort}/metrics`;
  });
  after(() => server.close());

  it('counts cache hits, garbage collection and rate-limit refusals', async () => {
    const image = makeImage({ layers: 1 });
    await pushImage(server.url, 'own/app', 'v1', image); // 2 × (POST + PUT) + manifest PUT
    for (let index = 0; index < 3; index++) {
      const response = await fetch(`${server.url}/v2/own/app/manifests/${image.digest}`, {
        headers: { Accept: image.mediaType },
      });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    const gc = await fetch(`${server.url}/_berth/admin/gc`, { method: 'POST' });
    assert.equal(gc.status, 200, await gc.text());
    let refused = 0;
    for (let index = 0; index < 6; index++) {
      const response = await fetch(`${server.url}/v2/`);
      if (response.status === 429) refused++;
      await response.arrayBuffer();
    }
    assert.ok(refused > 0, 'the requests budget ran out');
    const { exposition } = await scrape(metricsUrl);
    assert.ok(sumOf(exposition, 'berth_cache_lookups_total', { cache: 'manifests', result: 'hit' }) >= 2);
    assert.equal(sumOf(exposition, 'berth_gc_runs_total', { result: 'completed', dryrun: 'false' }), 1);
    assert.equal(sumOf(exposition, 'berth_gc_duration_seconds_count'), 1);
    assert.equal(sumOf(exposition, 'berth_ratelimit_refusals_total', { budget: 'requests' }), refused);
    assert.equal(sumOf(exposition, 'berth_uploads_in_progress'), 0);
    const stored = image.manifest.length + image.config.content.length + image.layers[0]!.content.length;
    assert.equal(
      sumOf(exposition, 'berth_repository_stored_bytes', { repository: 'own/app', kind: 'logical' }),
      stored,
    );
    assert.equal(sumOf(exposition, 'berth_stored_bytes'), stored);
    assert.ok(sumOf(exposition, 'nodejs_eventloop_lag_p99_seconds') >= 0);
    assert.ok(exposition.types.has('process_cpu_seconds_total'));
  });
});

describe('the Grafana dashboard', () => {
  it('queries only metrics that /metrics serves', async () => {
    const server = await startBerth({ config: { http: DEBUG } });
    try {
      await exercise(server.url);
      const { exposition } = await scrape(`http://127.0.0.1:${server.berth.debugPort}/metrics`);
      const served = (name: string) => {
        if (exposition.types.has(name)) return exposition.types.get(name) !== 'histogram';
        const histogram = name.replace(/_(bucket|sum|count)$/, '');
        return histogram !== name && exposition.types.get(histogram) === 'histogram';
      };
      const queries = dashboardQueries();
      assert.ok(queries.length >= 14, 'the dashboard has its panels');
      for (const { panel, expr } of queries) {
        const names = metricNames(expr);
        assert.ok(names.length > 0, `${panel}: ${expr} names a metric`);
        for (const name of names) assert.ok(served(name), `${panel}: ${name} is not served by /metrics`);
      }
    } finally {
      await server.close();
    }
  });
});

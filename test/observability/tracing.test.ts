/**
 * OpenTelemetry traces: a small OTLP/HTTP receiver in the test gets the spans of one push, a
 * span per request with the storage calls as its children, and the access log line carries the
 * trace id. Without configuration nothing of OpenTelemetry is loaded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { tracingSettings } from '../../src/tracing/index.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { tempFolders } from '../helpers/berth.js';
import { makeImage, pushImage } from '../helpers/content.js';

const folders = tempFolders();
after(() => folders.removeAll());

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 2: SERVER (a request). */
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

/** An OTLP/HTTP receiver (JSON encoding, as @opentelemetry/exporter-trace-otlp-http sends). */
function receiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; services: Set<string> }> {
  const spans: ReceivedSpan[] = [];
  const services = new Set<string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      assert.equal(request.url, '/v1/traces');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: ReceivedSpan[] }>;
        }>;
      };
      for (const resource of body.resourceSpans) {
        for (const attribute of resource.resource.attributes)
          if (attribute.key === 'service.name') services.add(attribute.value.stringValue ?? '');
        for (const scope of resource.scopeSpans) spans.push(...scope.spans);
      }
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/traces`,
        spans,
        services,
      }),
    ),
  );
}

describe('traces over OTLP/HTTP', () => {
  let collector: Awaited<ReturnType<typeof receiver>>;
  before(async () => (collector = await receiver()));
  after(() => collector.server.close());

  it('a push sends a span per request, with its storage calls as children, and the access line names the trace', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const { config } = validateConfig({
      version: '0.1',
      storage: { filesystem: { rootdirectory: folders.make('berth-tracing-') } },
      http: { addr: '127.0.0.1:0' },
      berth: { tracing: { endpoint: collector.url, servicename: 'berth-under-test' } },
    });
    const berth = createBerth(config, pino({ level: 'info' }, sink));
    const { port } = await berth.listen({ host: '127.0.0.1', port: 0 });
    const image = makeImage({ layers: 1 });
    try {
      await pushImage(`http://127.0.0.1:${port}`, 'traced/app', 'v1', image);
    } finally {
      await berth.close(); // flushes the spans still buffered
    }
    const { spans } = collector;
    assert.deepEqual([...collector.services], ['berth-under-test']);
    // Request spans (SERVER); background work (upload purging, accounting) makes spans of its own.
    const requests = spans.filter((span) => span.kind === 2);
    assert.ok(requests.every((span) => !span.parentSpanId));
    const names = requests.map((span) => span.name).sort();
    assert.deepEqual(names, [
      'POST blob_upload',
      'POST blob_upload',
      'PUT blob_upload_chunk',
      'PUT blob_upload_chunk',
      'PUT manifest',
    ]);
    const manifestPut = requests.find((span) => span.name === 'PUT manifest')!;
    const status = manifestPut.attributes.find((attribute) => attribute.key === 'http.response.status_code');
    assert.equal(Number(status?.value.intValue), 201);
    const children = spans.filter((span) => span.parentSpanId === manifestPut.spanId);
    assert.ok(
      children.some((span) => span.name === 'storage PutContent'),
      `children of PUT manifest: ${children.map((span) => span.name).join(', ')}`,
    );
    assert.ok(children.every((span) => span.traceId === manifestPut.traceId));
    // Each request is a trace of its own, and its access line names it.
    assert.equal(new Set(requests.map((span) => span.traceId)).size, requests.length);
    const accessLine = lines.find(
      (line) => line.msg === 'request' && line.method === 'PUT' && line.route === 'manifest',
    );
    assert.equal(accessLine?.traceId, manifestPut.traceId);
  });
});

describe('tracing off', () => {
  it('is off without configuration, and off with OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED', () => {
    assert.equal(tracingSettings(undefined, {}), undefined);
    assert.ok(tracingSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }));
    assert.ok(tracingSettings(undefined, { OTEL_TRACES_EXPORTER: 'otlp' }));
    assert.equal(tracingSettings({ enabled: true }, { OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.equal(tracingSettings({ enabled: true }, { OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(
      tracingSettings(undefined, { OTEL_SERVICE_NAME: 'x', OTEL_TRACES_EXPORTER: 'otlp' })?.serviceName,
      'x',
    );
  });

  it('loads no OpenTelemetry module unless tracing is on', () => {
    // The API registers itself on globalThis when loaded.
    const program = `
      import { validateConfig } from './src/config/load.ts';
      import { createBerth } from './src/app.ts';
      const { config } = validateConfig({ version: '0.1', storage: { filesystem: { rootdirectory: process.env.ROOT } } });
      const berth = createBerth(config);
      await berth.app.ready();
      console.log(JSON.stringify({ loaded: globalThis[Symbol.for('opentelemetry.js.api.1')] !== undefined }));
      await berth.close();`;
    const check = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
        cwd: REPO_ROOT,
        env: { ...process.env, ROOT: folders.make('berth-no-otel-'), ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const off = check({ OTEL_TRACES_EXPORTER: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    assert.equal(off.status, 0, off.stderr);
    assert.deepEqual(JSON.parse(off.stdout.trim().split('\n').pop()!), { loaded: false });
    const on = check({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' });
    assert.equal(on.status, 0, on.stderr);
    assert.deepEqual(JSON.parse(on.stdout.trim().split('\n').pop()!), { loaded: true });
  });
});

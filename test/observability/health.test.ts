/**
 * Distribution's `health` section: periodic checks whose failures `/debug/health` lists
 * (`{"<check>":"<error>"}`, 503) and which turn the registry API to 503 UNAVAILABLE until they
 * pass again. The storage check is run against a storage folder made unreadable, in a Berth
 * process of its own (as an unprivileged user when the tests run as root, whom permissions do
 * not stop).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { serveBerth } from '../helpers/berth-process.js';
import { startBerth, tempFolders } from '../helpers/berth.js';
import { freePort } from '../helpers/tools.js';
import { HealthMonitor } from '../../src/health/index.js';

const folders = tempFolders();
after(() => folders.removeAll());

/** Polls until `ready` holds (bounded), returning the last value read. */
async function eventually<T>(read: () => Promise<T>, ready: (value: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < 100; attempt++) {
    last = await read();
    if (ready(last)) return last;
    await sleep(100);
  }
  throw new Error(`${what}: still ${JSON.stringify(last)} after 10 s`);
}

async function status(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

describe('the storagedriver check', () => {
  it('an unreadable storage folder turns /debug/health and /v2/ to 503, and back once readable', async () => {
    const folder = folders.make('berth-health-');
    const root = join(folder, 'storage');
    mkdirSync(root);
    // Root ignores permissions: then Berth runs as nobody, owning its storage folder.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(folder, 0o755);
      chownSync(root, 65534, 65534);
    }
    const [port, debugPort] = [await freePort(), await freePort()];
    const configPath = join(folder, 'config.yml');
    writeFileSync(
      configPath,
      stringify({
        version: 0.1,
        log: { accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: root } },
        http: { addr: `127.0.0.1:${port}`, debug: { addr: `127.0.0.1:${debugPort}` } },
        health: { storagedriver: { enabled: true, interval: '100ms', threshold: 2 } },
        berth: { workers: 1 },
      }),
    );
    const berth = await serveBerth({ args: ['serve', configPath], ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
    const health = `http://127.0.0.1:${debugPort}/debug/health`;
    const base = `http://127.0.0.1:${port}/v2/`;
    try {
      assert.deepEqual(await status(health), { status: 200, body: '{}' });
      assert.equal((await status(base)).status, 200);

      chmodSync(root, 0o000);
      const failing = await eventually(
        () => status(health),
        (answer) => answer.status === 503,
        '/debug/health',
      );
      const checks = JSON.parse(failing.body) as Record<string, string>;
      assert.deepEqual(Object.keys(checks), ['storagedriver_filesystem']);
      assert.match(checks.storagedriver_filesystem!, /EACCES|permission/i);
      const refused = await status(base);
      assert.equal(refused.status, 503);
      assert.deepEqual(JSON.parse(refused.body), {
        errors: [
          {
            code: 'UNAVAILABLE',
            message: 'service unavailable',
            detail: 'health check failed: please see /debug/health',
          },
        ],
      });
      assert.equal((await status(`http://127.0.0.1:${port}/v2/some/repo/tags/list`)).status, 503);

      chmodSync(root, 0o755);
      await eventually(
        () => status(health),
        (answer) => answer.status === 200 && answer.body === '{}',
        '/debug/health',
      );
      assert.equal((await status(base)).status, 200);
    } finally {
      chmodSync(root, 0o755);
      berth.kill();
      await berth.exited;
    }
  });
});

describe('file, http and tcp checks', () => {
  it("a file check fails while its file exists, with Distribution's message", async () => {
    const folder = folders.make('berth-health-file-');
    const marker = join(folder, 'out-of-rotation');
    const server = await startBerth({
      config: { http: { debug: { addr: '127.0.0.1:0' } }, health: { file: [{ file: marker, interval: '100ms' }] } },
    });
    const health = `http://127.0.0.1:${server.berth.debugPort}/debug/health`;
    try {
      assert.equal((await status(`${server.url}/v2/`)).status, 200);
      writeFileSync(marker, '');
      const failing = await eventually(
        () => status(health),
        (answer) => answer.status === 503,
        '/debug/health',
      );
      assert.deepEqual(JSON.parse(failing.body), { [marker]: 'file exists' });
      assert.equal((await status(`${server.url}/v2/`)).status, 503);
      // Berth's own endpoints keep answering.
      assert.notEqual((await status(`${server.url}/_berth/health`)).status, 503);
      rmSync(marker);
      await eventually(
        () => status(health),
        (answer) => answer.status === 200,
        '/debug/health',
      );
      assert.equal((await status(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('http and tcp checks fail on a wrong status and a closed port', async () => {
    let answer = 200;
    const upstream = createServer((request, response) => {
      response.writeHead(request.method === 'HEAD' && request.headers['x-check'] === 'yes' ? answer : 400).end();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const closedPort = await freePort();
    const uri = `http://127.0.0.1:${upstreamPort}/ping`;
    const server = await startBerth({
      config: {
        http: { debug: { addr: '127.0.0.1:0' } },
        health: {
          http: [{ uri, headers: { 'X-Check': ['yes'] }, statuscode: 200, interval: '100ms', threshold: 1 }],
          tcp: [{ addr: `127.0.0.1:${closedPort}`, interval: '100ms', timeout: '1s' }],
        },
      },
    });
    const health = `http://127.0.0.1:${server.berth.debugPort}/debug/health`;
    try {
      const first = await eventually(
        () => status(health),
        (reply) => reply.body.includes('127.0.0.1'),
        'tcp check',
      );
      assert.deepEqual(JSON.parse(first.body), {
        [`127.0.0.1:${closedPort}`]: `connection to 127.0.0.1:${closedPort} failed`,
      });
      answer = 500;
      const both = await eventually(
        () => status(health),
        (reply) => reply.body.includes(uri),
        'http check',
      );
      assert.equal(JSON.parse(both.body)[uri], 'downstream service returned unexpected status: 500');
      answer = 200;
      await eventually(
        () => status(health),
        (reply) => !reply.body.includes(uri),
        'http check passing',
      );
    } finally {
      await server.close();
      upstream.close();
    }
  });
});

describe('thresholds', () => {
  it('a check fails only after `threshold` failures in a row, and one success clears it', async () => {
    let fail = false;
    let runs = 0;
    const monitor = new HealthMonitor(
      [
        {
          name: 'flaky',
          check: async () => {
            runs++;
            if (fail) throw new Error('down');
          },
          intervalMs: 20,
          threshold: 3,
          timeoutMs: 1000,
        },
      ],
      pino({ level: 'silent' }),
    );
    monitor.start();
    try {
      await eventually(
        async () => runs,
        (count) => count >= 1,
        'first run',
      );
      fail = true;
      const failedFrom = runs;
      await eventually(
        async () => monitor.healthy,
        (healthy) => !healthy,
        'failing',
      );
      assert.ok(runs - failedFrom >= 3, `failing after ${runs - failedFrom} failed runs`);
      assert.deepEqual(monitor.failures(), { flaky: 'down' });
      fail = false;
      await eventually(
        async () => monitor.healthy,
        (healthy) => healthy,
        'healthy',
      );
      assert.deepEqual(monitor.failures(), {});
    } finally {
      monitor.stop();
    }
  });
});

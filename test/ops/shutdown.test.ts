/**
 * Running Berth as a service: `berth serve` stops gracefully on SIGTERM (the request in flight
 * completes, new ones are refused, the process exits 0, and an interrupted upload resumes after
 * a restart), and `npm start` serves with REGISTRY_ overrides and no configuration file.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { builtCliIsFresh, serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { client } from '../helpers/http.js';

const folder = tempDir('berth-shutdown-');
after(() => rmSync(folder, { recursive: true, force: true }));

const CHUNK = 64 * 1024;

function chunk(index: number): Buffer {
  return Buffer.alloc(CHUNK, index + 1);
}

/** Polls (bounded) until `check` returns a value. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting: ${what}`);
}

/** A request on a fresh connection: the status, or the connection error's code. */
function freshRequest(url: string, path: string): Promise<number | string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const request = httpRequest({ host: hostname, port, path, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.setTimeout(5000, () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    request.end();
  });
}

describe('graceful shutdown of berth serve', () => {
  it('finishes the upload in flight on SIGTERM, refuses new requests, exits 0; the upload resumes after a restart', async () => {
    const file = join(folder, 'config.yml');
    writeFileSync(
      file,
      `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${join(folder, 'data')}
http:
  addr: 127.0.0.1:0
  draintimeout: 20s
`,
    );
    let berth: BerthProcess & { url: string } = await serveBerth({ args: ['serve', file] });
    const api = client(berth.url);
    const start = await api('POST', '/v2/slow/upload/blobs/uploads/');
    assert.equal(start.status, 202);
    const uploadPath = new URL(start.header('location')!).pathname;

    // A chunked PATCH whose body arrives slowly, on a keep-alive connection as registry clients use.
    const agent = new Agent({ keepAlive: true });
    const { hostname, port } = new URL(berth.url);
    let patch!: ClientRequest;
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      patch = httpRequest(
        {
          host: hostname,
          port,
          path: uploadPath,
          method: 'PATCH',
          agent,
          headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
        },
        resolve,
      );
      patch.on('error', reject);
    });
    const hash = createHash('sha256');
    const send = (index: number) => {
      hash.update(chunk(index));
      patch.write(chunk(index));
    };
    send(0);
    await eventually('the first chunk reached storage', async () => {
      const status = await api('GET', uploadPath);
      return status.header('range') === `0-${CHUNK - 1}` ? true : undefined;
    });

    berth.kill('SIGTERM');
    await berth.waitForLine((line) => line.signal === 'SIGTERM', 'stopping after SIGTERM');
    const late = await freshRequest(berth.url, '/v2/');
    assert.ok(
      late === 503 || late === 'ECONNREFUSED' || late === 'ECONNRESET',
      `a new request after SIGTERM is refused (got ${late})`,
    );
    assert.equal(berth.child.exitCode, null, 'still running while the upload is in flight');

    send(1);
    send(2);
    patch.end();
    const reply = await response;
    reply.resume();
    assert.equal(reply.statusCode, 202, 'the request in flight completes');
    assert.equal(reply.headers.range, `0-${3 * CHUNK - 1}`);
    const { code } = await waitForExit(berth);
    assert.equal(code, 0, `exit code after a graceful stop; stderr: ${berth.stderr()}`);
    agent.destroy();

    berth = await serveBerth({ args: ['serve', file] });
    try {
      const restarted = client(berth.url);
      const status = await restarted('GET', uploadPath);
      assert.equal(status.status, 204);
      assert.equal(status.header('range'), `0-${3 * CHUNK - 1}`, 'the upload kept every byte received');
      send(3);
      const digest = `sha256:${hash.digest('hex')}`;
      const finish = await restarted('PUT', `${uploadPath}?digest=${digest}`, { body: chunk(3) });
      assert.equal(finish.status, 201, finish.text());
      const blob = await restarted('HEAD', `/v2/slow/upload/blobs/${digest}`);
      assert.equal(blob.header('content-length'), String(4 * CHUNK));
    } finally {
      berth.kill('SIGTERM');
      assert.equal((await waitForExit(berth)).code, 0);
    }
  });
});

describe('npm start', () => {
  it('serves with REGISTRY_HTTP_ADDR and REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY and no configuration file', async () => {
    const root = join(folder, 'npm-start');
    // `npm start` runs `node dist/cli/main.js serve`; without a current build, the same CLI from source.
    const built = builtCliIsFresh();
    const berth = await serveBerth({
      args: ['serve'],
      built,
      env: { REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root },
    });
    try {
      const api = client(berth.url);
      assert.equal((await api('GET', '/v2/')).status, 200);
      const upload = await api('POST', '/v2/started/blobs/uploads/');
      assert.equal(upload.status, 202);
      assert.equal(upload.header('x-content-type-options'), 'nosniff', 'the embedded default configuration is in use');
      const serving = await berth.waitForLine(
        (line) => line.msg === 'berth is serving the registry API',
        'start-up line',
      );
      assert.equal(serving.storage, root);
      assert.equal(serving.config, 'default');
    } finally {
      berth.kill('SIGTERM');
      assert.equal((await waitForExit(berth)).code, 0);
    }
  });
});

/**
 * `berth serve` with several worker processes (`berth.workers`): every process serves the same
 * port, requests on fresh connections (which land on any process) see one consistent registry,
 * and SIGTERM stops them all. An upload whose chunks reach different processes keeps its digest:
 * that case is made deterministic with two instances over one storage folder, chunk by chunk.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { childrenOf } from '../helpers/processes.js';
import { makeImage, OCI_MANIFEST, sha256 } from '../helpers/content.js';
import { describeUnless } from '../helpers/tools.js';
import { availableParallelism } from 'node:os';
import { countsPerProcess, workerCount } from '../../src/cli/workers.js';
import { validateConfig } from '../../src/config/load.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on a connection of its own (no keep-alive), so it may reach any process. */
function fresh(url: string, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method,
        agent: false,
        headers: { Connection: 'close', ...headers, 'Content-Length': String(body?.length ?? 0) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.setTimeout(20_000, () => request.destroy(new Error(`${method} ${url} timed out`)));
    request.end(body);
  });
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('how many processes serve', () => {
  const config = (tree: Record<string, unknown>) =>
    validateConfig({ version: '0.1', storage: { filesystem: { rootdirectory: '/tmp/x' } }, ...tree }).config;
  const spare = Math.max(1, availableParallelism() - 1);

  it('defaults to one per core but one, and follows berth.workers', () => {
    assert.equal(workerCount(undefined), spare);
    assert.equal(workerCount(0), spare);
    assert.equal(workerCount(3), 3);
  });

  it('stays at one process by default when counters are per process, so budgets are not multiplied', () => {
    const limited = config({ berth: { ratelimit: { requests: '100/1m' } } });
    assert.equal(countsPerProcess(limited), true);
    assert.equal(workerCount(limited.berth.workers, { perProcessCounters: countsPerProcess(limited) }), 1);
    const uploadsCapped = config({ berth: { limits: { maxconcurrentuploads: 4 } } });
    assert.equal(countsPerProcess(uploadsCapped), true);
    // Redis shares the counters; an explicit setting is followed (and logged).
    assert.equal(
      countsPerProcess(config({ berth: { ratelimit: { requests: '100/1m' } }, redis: { addr: '127.0.0.1:1' } })),
      false,
    );
    assert.equal(countsPerProcess(config({})), false);
    assert.equal(workerCount(2, { perProcessCounters: true }), 2);
  });

  it('keeps one per core but one with only the failed-logins budget, which auth turns on by default', () => {
    const withUsers = config({ berth: { auth: { htpasswd: '/etc/berth/htpasswd' } } });
    assert.equal(withUsers.berth.ratelimit?.failedlogins?.limit, 10);
    assert.equal(countsPerProcess(withUsers), false);
    assert.equal(countsPerProcess(config({ berth: { ratelimit: { failedlogins: '5/1m' } } })), false);
    assert.equal(countsPerProcess(config({ berth: { auth: { htpasswd: '/x' }, ratelimit: { pulls: '5/1m' } } })), true);
  });
});

describeUnless(process.platform !== 'linux' && 'reads /proc', 'berth serve with worker processes', () => {
  const folder = tempDir();
  let berth: BerthProcess & { url: string };
  before(async () => {
    const file = join(folder, 'config.yml');
    writeFileSync(
      file,
      `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${join(folder, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
berth:
  workers: 3
`,
    );
    berth = await serveBerth({ args: ['serve', file] });
    // The first process serves at once; the two workers join it within moments.
    await until('two worker processes', () => (childrenOf(berth.child.pid!).length === 2 ? true : undefined));
  });
  after(async () => {
    berth.kill('SIGKILL');
    for (const pid of childrenOf(berth.child.pid!)) process.kill(pid, 'SIGKILL');
  });

  it('serves one consistent registry on fresh connections', async () => {
    // A chunked upload, one connection per request.
    const chunks = Array.from({ length: 12 }, () => randomBytes(64 * 1024));
    const whole = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(whole).digest('hex')}`;
    const start = await fresh(`${berth.url}/v2/workers/app/blobs/uploads/`, 'POST');
    assert.equal(start.status, 202);
    let location = new URL(String(start.headers.location), berth.url);
    let offset = 0;
    for (const chunk of chunks) {
      const patch = await fresh(location.href, 'PATCH', chunk, {
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        'Content-Type': 'application/octet-stream',
      });
      assert.equal(patch.status, 202, patch.body.toString());
      offset += chunk.length;
      assert.equal(patch.headers.range, `0-${offset - 1}`);
      location = new URL(String(patch.headers.location), berth.url);
    }
    location.searchParams.set('digest', digest);
    const put = await fresh(location.href, 'PUT');
    assert.equal(put.status, 201, put.body.toString());
    const pulled = await fresh(`${berth.url}/v2/workers/app/blobs/${digest}`, 'GET');
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(whole));

    // An image, then reads of it from fresh connections: manifest, tags, catalog.
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) {
      const pushed = await fresh(
        `${berth.url}/v2/workers/app/blobs/uploads/?digest=${blob.digest}`,
        'POST',
        blob.content,
      );
      assert.equal(pushed.status, 201);
    }
    for (const tag of ['one', 'two', 'three']) {
      const manifest = await fresh(`${berth.url}/v2/workers/app/manifests/${tag}`, 'PUT', image.manifest, {
        'Content-Type': OCI_MANIFEST,
      });
      assert.equal(manifest.status, 201);
    }
    for (let i = 0; i < 6; i++) {
      const manifest = await fresh(`${berth.url}/v2/workers/app/manifests/two`, 'GET', undefined, {
        Accept: OCI_MANIFEST,
      });
      assert.equal(manifest.status, 200);
      assert.equal(sha256(manifest.body), image.digest);
      const tags = await fresh(`${berth.url}/v2/workers/app/tags/list`, 'GET');
      assert.deepEqual(JSON.parse(tags.body.toString()), { name: 'workers/app', tags: ['one', 'three', 'two'] });
      const catalog = await fresh(`${berth.url}/v2/_catalog`, 'GET');
      assert.deepEqual(JSON.parse(catalog.body.toString()), { repositories: ['workers/app'] });
    }
    // Deleted through one connection, gone for every later one.
    const removed = await fresh(`${berth.url}/v2/workers/app/manifests/${image.digest}`, 'DELETE');
    assert.equal(removed.status, 202);
    for (let i = 0; i < 6; i++) {
      assert.equal((await fresh(`${berth.url}/v2/workers/app/manifests/two`, 'GET')).status, 404);
      assert.equal((await fresh(`${berth.url}/v2/workers/app/manifests/${image.digest}`, 'GET')).status, 404);
    }
  });

  it('stops every process on SIGTERM and exits 0', async () => {
    const workers = childrenOf(berth.child.pid!);
    assert.equal(workers.length, 2);
    berth.kill('SIGTERM');
    const { code } = await waitForExit(berth);
    assert.equal(code, 0, berth.stderr());
    await until('the workers to exit', () => (workers.every((pid) => !existsProcess(pid)) ? true : undefined));
  });
});

function existsProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('an upload whose chunks reach different processes', () => {
  const root = tempDir();
  let first: TestBerth;
  let second: TestBerth;
  before(async () => {
    first = await startBerth({ root });
    second = await startBerth({ root });
  });
  after(async () => {
    await first.close();
    await second.close();
  });

  async function upload(
    finishOn: TestBerth,
    digestOfWhole: (whole: Buffer) => string,
  ): Promise<{ status: number; whole: Buffer; digest: string }> {
    const chunks = Array.from({ length: 5 }, () => randomBytes(100_000));
    const whole = Buffer.concat(chunks);
    const start = await fresh(`${first.url}/v2/split/upload/blobs/uploads/`, 'POST');
    const path = new URL(String(start.headers.location)).pathname;
    let offset = 0;
    // first, second, first, second, first: every process sees a hash that is behind the file.
    for (const [index, chunk] of chunks.entries()) {
      const target = index % 2 === 0 ? first : second;
      const patch = await fresh(`${target.url}${path}`, 'PATCH', chunk, {
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
      });
      assert.equal(patch.status, 202);
      offset += chunk.length;
    }
    const digest = digestOfWhole(whole);
    const put = await fresh(`${finishOn.url}${path}?digest=${digest}`, 'PUT');
    return { status: put.status, whole, digest };
  }

  it('is stored under its true digest, whichever process finishes it', async () => {
    for (const finishOn of [first, second]) {
      const { status, whole, digest } = await upload(finishOn, (bytes) => sha256(bytes));
      assert.equal(status, 201);
      const pulled = await fresh(`${first.url}/v2/split/upload/blobs/${digest}`, 'GET');
      assert.ok(pulled.body.equals(whole));
    }
  });

  it('is refused when the digest does not match', async () => {
    const { status, digest } = await upload(second, () => sha256('something else'));
    assert.equal(status, 400);
    assert.equal((await fresh(`${first.url}/v2/split/upload/blobs/${digest}`, 'HEAD')).status, 404);
  });
});

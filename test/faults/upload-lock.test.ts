/**
 * Two PATCHes of one upload arriving at two processes that share the storage folder, without
 * Redis: the second is refused (409, Retry-After) while the first is writing, instead of both
 * appending and mixing their bodies. A lock left by a process that died is broken. The two
 * instances run in this process over one folder; the lock is the storage's (an exclusive create),
 * not the process's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { client } from '../helpers/http.js';
import { repositoryPath } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A PATCH that sends the first half of its body and holds the upload until `finish()` sends the
 * rest; `status` is its answer.
 */
function heldPatch(url: string, path: string, body: Buffer): { finish(): void; status: Promise<number> } {
  const req = request(`${url}${path}`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, body.length / 2));
  return { finish: () => req.end(body.subarray(body.length / 2)), status };
}

describe('one upload, two processes, no Redis', () => {
  let a: TestBerth;
  let b: TestBerth;
  before(async () => {
    const root = tempDir();
    a = await startBerth({ root });
    b = await startBerth({ root });
  });
  after(async () => {
    await b.close({ keepRoot: true });
    await a.close();
  });

  it('refuses a concurrent PATCH with 409 instead of mixing the bodies', async () => {
    const name = 'race/upload';
    const start = await client(a.url)('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(start.status, 202);
    const path = new URL(start.header('location')!, a.url).pathname;
    const first = Buffer.alloc(256 * 1024, 1);
    const second = Buffer.alloc(64 * 1024, 2);
    const lockFile = join(repositoryPath(a.root, name), '_uploads', path.slice(path.lastIndexOf('/') + 1), 'lock');
    const slow = heldPatch(a.url, path, first);
    await waitFor(() => existsSync(lockFile), 'the first PATCH holds the upload');
    const racing = await client(b.url)('PATCH', path, { body: second });
    slow.finish();
    assert.equal(racing.status, 409, racing.text());
    assert.equal(racing.header('retry-after'), '1');
    assert.equal(
      (JSON.parse(racing.text()) as { errors: Array<{ code: string }> }).errors[0]!.code,
      'BLOB_UPLOAD_INVALID',
    );
    assert.equal(await slow.status, 202);
    // The upload holds the first body only, and the next request (on either process) goes on.
    const digest = `sha256:${createHash('sha256').update(first).digest('hex')}`;
    const put = await client(b.url)('PUT', `${path}?digest=${digest}`);
    assert.equal(put.status, 201, put.text());
    const folder = join(repositoryPath(a.root, name), '_uploads', path.slice(path.lastIndexOf('/') + 1));
    assert.equal(existsSync(folder), false, 'nothing is left of the upload, lock included');
  });

  it('breaks a lock left by a process that died', async () => {
    const name = 'race/dead-holder';
    const start = await client(a.url)('POST', `/v2/${name}/blobs/uploads/`);
    const path = new URL(start.header('location')!, a.url).pathname;
    const uuid = path.slice(path.lastIndexOf('/') + 1);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lockFile = join(repositoryPath(a.root, name), '_uploads', uuid, 'lock');
    writeFileSync(lockFile, JSON.stringify({ token: 'dead', pid: Number(gone.stdout), host: hostname() }));
    const patch = await client(b.url)('PATCH', path, { body: Buffer.alloc(1000, 3) });
    assert.equal(patch.status, 202, patch.text());
    assert.equal(existsSync(lockFile), false, 'released after the request');
  });
});

describe('one upload, two processes, metrics on', () => {
  let a: TestBerth;
  let b: TestBerth;
  before(async () => {
    const root = tempDir();
    // Metrics wrap the storage driver: the wrapper must keep the exclusive create the lock needs.
    const config = { http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } } };
    a = await startBerth({ root, config });
    b = await startBerth({ root, config });
  });
  after(async () => {
    await b.close({ keepRoot: true });
    await a.close();
  });

  it('still refuses a concurrent PATCH with 409', async () => {
    const name = 'race/metered';
    const start = await client(a.url)('POST', `/v2/${name}/blobs/uploads/`);
    const path = new URL(start.header('location')!, a.url).pathname;
    const data = join(repositoryPath(a.root, name), '_uploads', path.slice(path.lastIndexOf('/') + 1), 'data');
    const slow = heldPatch(a.url, path, Buffer.alloc(256 * 1024, 1));
    await waitFor(() => statSync(data).size > 0, 'the first PATCH is writing');
    const racing = await client(b.url)('PATCH', path, { body: Buffer.alloc(1024, 2) });
    slow.finish();
    assert.equal(racing.status, 409, racing.text());
    assert.equal(await slow.status, 202);
  });
});

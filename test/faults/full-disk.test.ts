/**
 * A full disk (ENOSPC) answers 507 Insufficient Storage with a message naming the cause, in the
 * spec's envelope; the request's partial data is removed (the free space is what it was before);
 * what was stored before still pulls; and pushes work again once space is freed. The storage is
 * a small tmpfs of its own (test/helpers/small-fs.ts).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage, randomBlob } from '../helpers/content.js';
import { client, type HttpReply } from '../helpers/http.js';
import { repositoryPath } from '../helpers/files.js';
import { describeWithSmallFs } from '../helpers/small-fs.js';
import { pullVerified } from '../gc/support.js';

const SIZE = 24 * 1024 * 1024;

function assertFull(reply: HttpReply, what: string): void {
  assert.equal(reply.status, 507, `${what}: ${reply.text()}`);
  const body = JSON.parse(reply.text()) as { errors: Array<{ code: string; message: string; detail: unknown }> };
  assert.equal(body.errors.length, 1);
  assert.equal(body.errors[0]!.code, 'UNKNOWN');
  assert.match(body.errors[0]!.message, /insufficient storage.*ENOSPC/);
}

describeWithSmallFs('a full disk', SIZE, (smallFs) => () => {
  let server: TestBerth;
  let root: string;
  let fillerA: string;
  let fillerB: string;
  before(async () => {
    const fs = smallFs();
    root = join(fs.path, 'registry');
    fillerA = join(fs.path, 'filler-a');
    fillerB = join(fs.path, 'filler-b');
    server = await startBerth({ root });
  });
  after(async () => {
    await server?.close({ keepRoot: true });
    smallFs().unmount();
  });

  const uploads = (name: string) => {
    const folder = join(repositoryPath(root, name), '_uploads');
    return existsSync(folder) ? readdirSync(folder) : [];
  };
  const temporaries = () => {
    const folder = join(root, '.berth-tmp');
    return existsSync(folder) ? readdirSync(folder) : [];
  };

  it('answers 507, removes the partial data, keeps what was stored, and recovers once space is freed', async (t) => {
    const fs = smallFs();
    const api = client(server.url);
    const stored = makeImage({ layers: 2 });
    await pushImage(server.url, 'full/kept', 'v1', stored);

    // Leave 512 KiB: room to start an upload, not to finish a 2 MiB one.
    fs.fill(fillerA, 512 * 1024);
    const before = fs.free();
    const blob = randomBlob(2 * 1024 * 1024);

    const whole = await api('POST', `/v2/full/app/blobs/uploads/?digest=${blob.digest}`, { body: blob.content });
    assertFull(whole, 'monolithic POST');
    assert.deepEqual(uploads('full/app'), [], 'the monolithic upload is removed');

    const start = await api('POST', '/v2/full/app/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = new URL(start.header('location')!, server.url).pathname;
    const patch = await api('PATCH', location, { body: blob.content });
    assertFull(patch, 'PATCH');
    assert.deepEqual(uploads('full/app'), [], 'the half-written chunk is removed with its upload');
    assert.equal((await api('GET', location)).status, 404);
    assert.deepEqual(temporaries(), []);
    const leftover = before - fs.free();
    t.diagnostic(`bytes left behind by the failed pushes: ${leftover}`);
    assert.ok(leftover <= 16 * 1024, `at most a few blocks of metadata stay (${leftover} bytes)`);

    // No room at all: even starting an upload or storing a manifest fails cleanly.
    fs.fill(fillerB);
    assertFull(await api('POST', '/v2/full/app/blobs/uploads/'), 'POST start');
    assert.deepEqual(uploads('full/app'), [], 'a failed start leaves no folder');
    const image = makeImage({ layers: 1 });
    const manifest = await api('PUT', '/v2/full/kept/manifests/v2', {
      body: stored.manifest,
      headers: { 'Content-Type': stored.mediaType },
    });
    assertFull(manifest, 'manifest PUT');
    assert.deepEqual(temporaries(), []);

    // What was stored before is intact.
    await pullVerified(server.url, 'full/kept', 'v1');

    // Space freed: the same pushes go through, without a restart.
    rmSync(fillerA);
    rmSync(fillerB);
    const again = await api('POST', `/v2/full/app/blobs/uploads/?digest=${blob.digest}`, { body: blob.content });
    assert.equal(again.status, 201, again.text());
    await pushImage(server.url, 'full/app', 'v1', image);
    await pullVerified(server.url, 'full/app', 'v1');
    await pullVerified(server.url, 'full/kept', 'v1');
  });
});

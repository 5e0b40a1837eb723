/**
 * A single-request push (`POST …/blobs/uploads/?digest=`) whose client goes away mid-body: no
 * client knows that upload's URL, so its folder and partial bytes go when the request ends,
 * not at purging a week later. A chunked upload that loses a PATCH stays resumable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { randomBlob, sha256 } from '../helpers/content.js';
import { abortMidBody } from '../helpers/abort.js';
import { client } from '../helpers/http.js';
import { listTree, repositoryPath } from '../helpers/files.js';

function uploadFolders(root: string, name: string): string[] {
  const folder = join(repositoryPath(root, name), '_uploads');
  return existsSync(folder) ? readdirSync(folder) : [];
}

function bytesUnder(folder: string): number {
  return listTree(folder)
    .filter((entry) => !entry.endsWith('/'))
    .reduce((sum, entry) => sum + statSync(join(folder, entry)).size, 0);
}

async function settle(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('aborted uploads', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth()));
  after(() => server.close());

  it('a monolithic POST whose client disconnects mid-body leaves nothing in _uploads', async () => {
    const name = 'aborts/monolithic';
    const digest = sha256('never sent whole');
    for (let i = 0; i < 5; i++) {
      await abortMidBody(
        server.host,
        'POST',
        `/v2/${name}/blobs/uploads/?digest=${digest}`,
        4 * 1024 * 1024,
        1024 * 1024,
      );
    }
    const uploads = join(repositoryPath(server.root, name), '_uploads');
    await settle(() => uploadFolders(server.root, name).length === 0, 'the aborted uploads to be removed');
    assert.equal(bytesUnder(uploads), 0, 'no partial bytes are left');
    // The registry still takes the same push whole.
    const blob = randomBlob(300_000);
    const reply = await client(server.url)('POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, {
      body: blob.content,
    });
    assert.equal(reply.status, 201);
    assert.deepEqual(uploadFolders(server.root, name), []);
  });

  it('a monolithic POST with a wrong digest leaves nothing either', async () => {
    const name = 'aborts/mismatch';
    const blob = randomBlob(10_000);
    const reply = await client(server.url)('POST', `/v2/${name}/blobs/uploads/?digest=${sha256('other')}`, {
      body: blob.content,
    });
    assert.equal(reply.status, 400);
    assert.deepEqual(uploadFolders(server.root, name), []);
  });

  it('a chunked upload whose PATCH is cut off keeps what arrived and stays resumable', async () => {
    const name = 'aborts/chunked';
    const api = client(server.url);
    const start = await api('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(start.status, 202);
    const location = new URL(start.header('location')!, server.url).pathname;
    const [host, port] = server.host.split(':') as [string, string];
    const socket = connect(Number(port), host);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: ${server.host}\r\nContent-Length: 1000000\r\n\r\n`);
    socket.write(Buffer.alloc(300_000, 1));
    const data = join(
      repositoryPath(server.root, name),
      '_uploads',
      location.slice(location.lastIndexOf('/') + 1),
      'data',
    );
    await settle(() => existsSync(data) && statSync(data).size === 300_000, 'the bytes sent so far to be stored');
    socket.resetAndDestroy();
    // A status request gets the upload once the cut-off PATCH has settled.
    const status = await api('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), '0-299999', 'what arrived is kept');
    assert.equal(uploadFolders(server.root, name).length, 1, 'the upload is kept: its client knows its URL');
  });
});

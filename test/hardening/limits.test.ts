/**
 * Hardening limits, each with a clear JSON error: header size (431), malformed HTTP (400),
 * maximum blob size (413, upload cancelled), concurrent uploads per caller (429), and the idle
 * and request timeouts (408), after which an upload keeps the bytes it received and resumes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { randomBlob, sha256 } from '../helpers/content.js';
import { repositoryPath } from '../helpers/files.js';
import { assertError, client, generatedStream, type Api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const BOUND_MS = 15_000;

/** A raw connection: what the server sent, and a promise for when it closed the connection. */
interface Raw {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

function open(url: string): Promise<Raw> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      const closed = new Promise<void>((done, fail) => {
        const timer = setTimeout(
          () => fail(new Error(`connection still open after ${BOUND_MS} ms; received: ${text.slice(0, 500)}`)),
          BOUND_MS,
        );
        socket.on('close', () => {
          clearTimeout(timer);
          done();
        });
      });
      resolve({ socket, received: () => text, closed });
    });
    socket.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET' && (error as NodeJS.ErrnoException).code !== 'EPIPE')
        reject(error);
    });
  });
}

/** Status and JSON body of the first response on a raw connection. */
function parseResponse(text: string): { status: number; headers: string; body: any } {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a response: ${JSON.stringify(text.slice(0, 300))}`);
  const headers = text.slice(0, end);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]);
  const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
  const raw = text.slice(end + 4, end + 4 + length);
  return { status, headers, body: raw ? JSON.parse(raw) : undefined };
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

async function startUpload(api: Api, name: string): Promise<string> {
  const reply = await api('POST', `/v2/${name}/blobs/uploads/`);
  assert.equal(reply.status, 202);
  return new URL(reply.header('location')!).pathname;
}

describe('header size', () => {
  let small: TestBerth;
  let standard: TestBerth;
  before(async () => {
    small = await startBerth({ config: { berth: { limits: { headersize: 4096 } } } });
    standard = await startBerth();
  });
  after(async () => {
    await small.close();
    await standard.close();
  });

  async function sendHead(url: string, text: string): Promise<ReturnType<typeof parseResponse>> {
    const raw = await open(url);
    raw.socket.write(text);
    await raw.closed;
    return parseResponse(raw.received());
  }

  it('answers a request head over berth.limits.headersize with 431 and the JSON error', async () => {
    const reply = await sendHead(small.url, head('GET', '/v2/', { 'X-Filler': 'x'.repeat(5000) }));
    assert.equal(reply.status, 431);
    assert.match(reply.headers, /docker-distribution-api-version: registry\/2\.0/i);
    assert.equal(reply.body.errors[0].code, 'UNSUPPORTED');
    assert.match(reply.body.errors[0].message, /exceed 4096 bytes \(berth\.limits\.headersize\)/);
    // An over-long URL is part of the head too.
    assert.equal((await sendHead(small.url, head('GET', `/v2/${'a/'.repeat(3000)}tags/list`, {}))).status, 431);
    // Under the limit, all is well.
    assert.equal((await client(small.url)('GET', '/v2/', { headers: { 'X-Filler': 'x'.repeat(3000) } })).status, 200);
  });

  it("keeps Node's 16 KiB by default", async () => {
    assert.equal(
      (await client(standard.url)('GET', '/v2/', { headers: { 'X-Filler': 'x'.repeat(12_000) } })).status,
      200,
    );
    const reply = await sendHead(standard.url, head('GET', '/v2/', { 'X-Filler': 'x'.repeat(20_000) }));
    assert.equal(reply.status, 431);
    assert.match(reply.body.errors[0].message, /exceed 16384 bytes/);
  });

  it('answers malformed HTTP with 400 and the JSON error', async () => {
    for (const garbage of [
      'NOT HTTP AT ALL\r\n\r\n',
      'GET /v2/\0 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v2/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    ]) {
      const reply = await sendHead(standard.url, garbage);
      assert.equal(reply.status, 400, JSON.stringify(garbage));
      assert.equal(reply.body.errors[0].code, 'UNSUPPORTED');
      assert.match(reply.body.errors[0].message, /^malformed HTTP request/);
    }
    assert.equal((await client(standard.url)('GET', '/v2/')).status, 200, 'still serving');
  });
});

describe('maximum blob size', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({ config: { berth: { limits: { maxblobsize: 1000 } } } });
    api = client(server.url);
  });
  after(() => server.close());

  async function assertCancelled(path: string): Promise<void> {
    assertError(await api('GET', path), 404, 'BLOB_UPLOAD_UNKNOWN', 'the upload is cancelled');
  }

  it('takes a blob of exactly the limit', async () => {
    const blob = randomBlob(1000);
    const path = await startUpload(api, 'max/repo');
    assert.equal((await api('PATCH', path, { body: blob.content.subarray(0, 600) })).status, 202);
    assert.equal((await api('PUT', `${path}?digest=${blob.digest}`, { body: blob.content.subarray(600) })).status, 201);
    assert.equal((await api('GET', `/v2/max/repo/blobs/${blob.digest}`)).body.length, 1000);
  });

  it('refuses a larger one with 413 SIZE_INVALID, whether it comes in one request, in chunks or chunked', async () => {
    const blob = randomBlob(1500);
    const monolithic = await api('POST', `/v2/max/repo/blobs/uploads/?digest=${blob.digest}`, { body: blob.content });
    assertError(monolithic, 413, 'SIZE_INVALID', 'monolithic');
    assert.match(monolithic.json().errors[0].message, /maximum size of 1000 bytes \(berth\.limits\.maxblobsize\)/);

    const chunks = await startUpload(api, 'max/repo');
    assert.equal((await api('PATCH', chunks, { body: blob.content.subarray(0, 800) })).status, 202);
    assertError(await api('PATCH', chunks, { body: blob.content.subarray(800) }), 413, 'SIZE_INVALID', 'second chunk');
    await assertCancelled(chunks);

    const streamed = await startUpload(api, 'max/repo');
    assertError(await api('PATCH', streamed, { body: blob.content, chunked: true }), 413, 'SIZE_INVALID', 'chunked');
    await assertCancelled(streamed);

    const claimed = await startUpload(api, 'max/repo');
    const claim = await api('PATCH', claimed, { body: blob.content, headers: { 'Content-Range': '0-1499' } });
    assertError(claim, 413, 'SIZE_INVALID', 'Content-Range');
    await assertCancelled(claimed);

    const final = await startUpload(api, 'max/repo');
    assertError(
      await api('PUT', `${final}?digest=${blob.digest}`, { body: blob.content }),
      413,
      'SIZE_INVALID',
      'final PUT',
    );
    await assertCancelled(final);
    assertError(await api('HEAD', `/v2/max/repo/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
  });
});

describe('concurrent uploads per caller', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({
      config: { berth: { trustedproxies: ['127.0.0.1'], limits: { maxconcurrentuploads: 2 } } },
    });
    api = client(server.url);
  });
  after(() => server.close());

  it('refuses a third upload body in flight with 429, and takes it once one finishes', async () => {
    const paths = [
      await startUpload(api, 'c/repo'),
      await startUpload(api, 'c/repo'),
      await startUpload(api, 'c/repo'),
    ];
    const content = randomBlob(100).content;
    // Two PATCHes that send half their body and wait.
    const pending: Raw[] = [];
    for (const path of paths.slice(0, 2)) {
      const raw = await open(server.url);
      raw.socket.write(head('PATCH', path, { 'Content-Length': 100, 'Content-Type': 'application/octet-stream' }));
      raw.socket.write(content.subarray(0, 50));
      pending.push(raw);
    }
    // Both hold a slot once the server has stored the bytes they sent.
    const received = (path: string) => {
      const data = join(repositoryPath(server.root, 'c/repo'), '_uploads', path.split('/').pop()!, 'data');
      return existsSync(data) ? statSync(data).size : 0;
    };
    await waitFor(() => paths.slice(0, 2).every((path) => received(path) === 50), 'both PATCHes reach the server');
    const third = await api('PATCH', paths[2]!, { body: content });
    assertError(third, 429, 'TOOMANYREQUESTS');
    assert.match(
      third.json().errors[0].message,
      /already has 2 uploads in flight \(berth\.limits\.maxconcurrentuploads\)/,
    );
    assert.equal(third.header('retry-after'), '1');
    // Other callers (here: another client behind the trusted proxy) are not affected.
    assert.equal(
      (await api('PATCH', paths[2]!, { body: content.subarray(0, 10), headers: { 'X-Forwarded-For': '198.51.100.1' } }))
        .status,
      202,
    );
    // Starting uploads and other requests are not upload bodies.
    assert.equal((await api('POST', '/v2/c/repo/blobs/uploads/')).status, 202);
    // One finishes: a slot is free again.
    pending[0]!.socket.end(content.subarray(50));
    await pending[0]!.closed.catch(() => undefined);
    const deadline = Date.now() + BOUND_MS;
    let reply = await api('PATCH', paths[2]!, { body: content.subarray(10) });
    while (reply.status === 429 && Date.now() < deadline) {
      await sleep(50);
      reply = await api('PATCH', paths[2]!, { body: content.subarray(10) });
    }
    assert.equal(reply.status, 202, reply.text());
    pending[1]!.socket.destroy();
  });
});

describe('idle timeout', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({ config: { berth: { limits: { idletimeout: '1s' } } } });
    api = client(server.url);
  });
  after(() => server.close());

  it('answers a stalled upload body with 408 and keeps what arrived: the upload resumes', async () => {
    const blob = randomBlob(1000);
    const path = await startUpload(api, 'idle/repo');
    const raw = await open(server.url);
    raw.socket.write(head('PATCH', path, { 'Content-Length': 1000, 'Content-Type': 'application/octet-stream' }));
    raw.socket.write(blob.content.subarray(0, 300));
    await raw.closed;
    const reply = parseResponse(raw.received());
    assert.equal(reply.status, 408);
    assert.equal(reply.body.errors[0].code, 'BLOB_UPLOAD_INVALID');
    assert.match(
      reply.body.errors[0].message,
      /no bytes received for 1 s \(berth\.limits\.idletimeout\); the bytes received so far are kept/,
    );
    // The broken PATCH may still be settling: its offset is final once a status request gets the lock.
    const status = await api('GET', path);
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), '0-299');
    const rest = await api('PATCH', path, {
      body: blob.content.subarray(300),
      headers: { 'Content-Range': '300-999' },
    });
    assert.equal(rest.status, 202, rest.text());
    assert.equal((await api('PUT', `${path}?digest=${blob.digest}`)).status, 201);
    assert.deepEqual((await api('GET', `/v2/idle/repo/blobs/${blob.digest}`)).body, blob.content);
  });

  it('closes a connection whose client stopped reading a response', async () => {
    const size = 32 * 1024 * 1024;
    const { stream, digest } = generatedStream(size, 7);
    const path = await startUpload(api, 'idle/big');
    assert.equal((await api('PATCH', path, { body: stream })).status, 202);
    assert.equal((await api('PUT', `${path}?digest=${await digest}`)).status, 201);
    const raw = await open(server.url);
    raw.socket.pause(); // reads nothing: the server's writes back up
    raw.socket.write(head('GET', `/v2/idle/big/blobs/${await digest}`, {}));
    // The server's end goes away (a paused client cannot see that until it reads again).
    const connections = () =>
      new Promise<number>((resolve) => server.berth.app.server.getConnections((_error, count) => resolve(count)));
    await waitFor(async () => (await connections()) > 0, 'the server has the connection');
    await waitFor(async () => (await connections()) === 0, 'the stalled connection is closed', {
      timeoutMs: BOUND_MS,
    });
    raw.socket.resume();
    await raw.closed;
    assert.ok(raw.received().length < size, 'the download was cut short');
    assert.equal((await api('GET', '/v2/')).status, 200, 'still serving');
  });
});

describe('request timeout', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({ config: { berth: { limits: { requesttimeout: '1s' } } } });
    api = client(server.url);
  });
  after(() => server.close());

  it('answers a request that takes too long to arrive with 408; the upload keeps its bytes', async () => {
    const blob = randomBlob(1000);
    const path = await startUpload(api, 'slow/repo');
    const raw = await open(server.url);
    raw.socket.write(head('PATCH', path, { 'Content-Length': 1000, 'Content-Type': 'application/octet-stream' }));
    // A trickle: never idle, but never done.
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent >= 500 || raw.socket.destroyed) return;
      raw.socket.write(blob.content.subarray(sent, sent + 50));
      sent += 50;
    }, 100);
    try {
      await raw.closed;
    } finally {
      clearInterval(trickle);
    }
    const reply = parseResponse(raw.received());
    assert.equal(reply.status, 408);
    assert.equal(reply.body.errors[0].code, 'BLOB_UPLOAD_INVALID');
    assert.match(reply.body.errors[0].message, /within 1 s \(berth\.limits\.requesttimeout\)/);
    const status = await api('GET', path);
    const received = Number(status.header('range')!.split('-')[1]) + 1;
    assert.ok(received > 0 && received <= sent, `kept ${received} of ${sent} bytes`);
    const rest = await api('PATCH', path, {
      body: blob.content.subarray(received),
      headers: { 'Content-Range': `${received}-999` },
    });
    assert.equal(rest.status, 202, rest.text());
    assert.equal((await api('PUT', `${path}?digest=${sha256(blob.content)}`)).status, 201);
  });
});

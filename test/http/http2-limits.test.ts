/**
 * What HTTP/1 connections get from Node and Berth's limits, HTTP/2 streams get too (h2c here;
 * TLS hands over the same way): the idle and request timeouts answer 408 on the stream and leave
 * the connection's other requests alone, a head over `headersize` gets 431, a refused body too
 * large to drain resets only its stream, close() lets a download under way finish and does not
 * wait for idle connections, the metrics count HTTP/2 requests by their own bytes, and worker
 * processes serve HTTP/2 on the shared socket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { serveBerth, waitForExit } from '../helpers/berth-process.js';
import { randomBlob, sha256 } from '../helpers/content.js';
import { closeSession, h2request, openSession } from '../helpers/http2-client.js';
import { parseExposition, sumOf } from '../helpers/metrics.js';
import { childrenOf, processServing } from '../helpers/processes.js';

async function startUpload(session: ClientHttp2Session, repository: string): Promise<string> {
  const started = await h2request(session, { method: 'POST', path: `/v2/${repository}/blobs/uploads/` });
  assert.equal(started.status, 202);
  const location = new URL(String(started.headers.location), 'http://x');
  return location.pathname + location.search;
}

/** `path` with `digest` added to its query. */
function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${digest}`;
}

async function pushBlob(session: ClientHttp2Session, repository: string, content: Buffer): Promise<string> {
  const path = await startUpload(session, repository);
  const digest = sha256(content);
  const put = await h2request(session, {
    method: 'PUT',
    path: withDigest(path, digest),
    headers: { 'content-type': 'application/octet-stream' },
    body: content,
  });
  assert.equal(put.status, 201);
  return digest;
}

interface OpenStream {
  stream: ClientHttp2Stream;
  /** Resolves with the status and body once the server ends or resets the stream. */
  done: Promise<{ status: number; body: Buffer; rstCode: number }>;
}

/** A PATCH of `length` declared bytes, whose body the test writes itself. */
function openPatch(session: ClientHttp2Session, path: string, length: number): OpenStream {
  return openStream(session, {
    ':method': 'PATCH',
    ':path': path,
    'content-length': length,
    'content-type': 'application/octet-stream',
  });
}

/** A request whose body the test writes itself, and may leave unfinished. */
function openStream(session: ClientHttp2Session, headers: Record<string, string | number>): OpenStream {
  const stream = session.request(headers);
  const chunks: Buffer[] = [];
  let status = 0;
  stream.on('response', (received) => {
    status = Number(received[':status']);
  });
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('error', () => {});
  // Node's client does not close a stream reset by the server while a write of its own waits
  // for flow control: once the answer has ended and the reset has come, it is let go here.
  const release = () => {
    if (stream.readableEnded && stream.rstCode !== undefined && !stream.destroyed) stream.destroy();
  };
  stream.on('end', release).on('aborted', release);
  const done = once(stream, 'close').then(() => ({
    status,
    body: Buffer.concat(chunks),
    rstCode: stream.rstCode ?? 0,
  }));
  return { stream, done };
}

function envelope(body: Buffer): { code: string; message: string } {
  return (JSON.parse(body.toString()) as { errors: { code: string; message: string }[] }).errors[0]!;
}

describe('HTTP/2 idle timeout', () => {
  let server: TestBerth;
  let session: ClientHttp2Session;
  before(async () => {
    server = await startBerth({
      config: { http: { h2c: { enabled: true } }, berth: { limits: { idletimeout: '1s' } } },
    });
    session = await openSession(server.url);
  });
  after(async () => {
    await closeSession(session);
    await server.close();
  });

  it('answers a stalled upload body with 408 on its stream; the connection and the upload go on', async () => {
    const blob = randomBlob(1000);
    const path = await startUpload(session, 'h2idle/repo');
    const patch = openPatch(session, path, 1000);
    patch.stream.write(blob.content.subarray(0, 300));
    const answer = await patch.done;
    assert.equal(answer.status, 408);
    assert.equal(envelope(answer.body).code, 'BLOB_UPLOAD_INVALID');
    assert.match(envelope(answer.body).message, /no bytes received for 1 s \(berth\.limits\.idletimeout\)/);
    // Same connection: still served.
    assert.equal((await h2request(session, { path: '/v2/' })).status, 200);
    const status = await h2request(session, { path });
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, '0-299');
    const rest = await h2request(session, {
      method: 'PATCH',
      path,
      headers: { 'content-range': '300-999', 'content-type': 'application/octet-stream' },
      body: blob.content.subarray(300),
    });
    assert.equal(rest.status, 202);
    const done = await h2request(session, { method: 'PUT', path: withDigest(path, blob.digest) });
    assert.equal(done.status, 201);
  });

  it('resets the stream of a client that stopped reading its response, not the connection', async () => {
    const digest = await pushBlob(session, 'h2idle/big', randomBlob(8 * 1024 * 1024).content);
    const download = openStream(session, { ':method': 'GET', ':path': `/v2/h2idle/big/blobs/${digest}` });
    download.stream.pause(); // reads nothing: the flow-control window closes and the server's writes back up
    const answer = await download.done;
    assert.equal(answer.status, 200);
    assert.equal(answer.rstCode, constants.NGHTTP2_CANCEL);
    assert.ok(answer.body.length < 8 * 1024 * 1024, 'the download was cut short');
    assert.equal((await h2request(session, { path: '/v2/' })).status, 200, 'the connection still serves');
  });
});

describe('HTTP/2 request timeout, header size, undrained bodies', () => {
  let server: TestBerth;
  let session: ClientHttp2Session;
  before(async () => {
    server = await startBerth({
      config: { http: { h2c: { enabled: true } }, berth: { limits: { requesttimeout: '1s', headersize: 4096 } } },
    });
    session = await openSession(server.url);
  });
  after(async () => {
    await closeSession(session);
    await server.close();
  });

  it('answers a request that takes too long to arrive with 408; the upload keeps its bytes', async () => {
    const path = await startUpload(session, 'h2slow/repo');
    const patch = openPatch(session, path, 1000);
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent >= 500 || patch.stream.closed) return;
      patch.stream.write(Buffer.alloc(50, 1));
      sent += 50;
    }, 100);
    const answer = await patch.done.finally(() => clearInterval(trickle));
    assert.equal(answer.status, 408);
    assert.equal(envelope(answer.body).code, 'BLOB_UPLOAD_INVALID');
    assert.match(envelope(answer.body).message, /within 1 s \(berth\.limits\.requesttimeout\)/);
    const status = await h2request(session, { path });
    const received = Number(String(status.headers.range).split('-')[1]) + 1;
    assert.ok(received > 0 && received <= sent, `kept ${received} of ${sent} bytes`);
  });

  it('answers a head over berth.limits.headersize with 431', async () => {
    const reply = await h2request(session, { path: '/v2/', headers: { 'x-large': 'a'.repeat(5000) } });
    assert.equal(reply.status, 431);
    assert.equal(envelope(reply.body).code, 'UNSUPPORTED');
    assert.match(envelope(reply.body).message, /exceed 4096 bytes \(berth\.limits\.headersize\)/);
    assert.equal((await h2request(session, { path: '/v2/' })).status, 200);
  });

  it('answers a refused body too large to drain, then resets only its stream', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 7);
    const patch = openPatch(session, '/v2/h2slow/repo/blobs/uploads/00000000-0000-4000-8000-000000000000', body.length);
    // Written with backpressure: Node's client would refuse to buffer 20 MiB at once itself.
    Readable.from(
      (function* pieces() {
        for (let offset = 0; offset < body.length; offset += 64 * 1024) yield body.subarray(offset, offset + 64 * 1024);
      })(),
    ).pipe(patch.stream);
    const answer = await patch.done;
    assert.equal(answer.status, 404);
    assert.equal(envelope(answer.body).code, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(answer.rstCode, constants.NGHTTP2_NO_ERROR);
    assert.equal((await h2request(session, { path: '/v2/' })).status, 200);
  });
});

describe('many downloads on one HTTP/2 connection', () => {
  it('a client reading twenty downloads slowly can still send new requests on the connection', async () => {
    const server = await startBerth({ config: { http: { h2c: { enabled: true } } } });
    const session = await openSession(server.url);
    try {
      const digest = await pushBlob(session, 'h2many/repo', randomBlob(4 * 1024 * 1024).content);
      const downloads = Array.from({ length: 20 }, () =>
        openStream(session, { ':method': 'GET', ':path': `/v2/h2many/repo/blobs/${digest}` }),
      );
      for (const download of downloads) download.stream.pause();
      await Promise.all(downloads.map((download) => once(download.stream, 'response')));
      // Node would refuse this stream while the data queued on the connection passes its credit.
      assert.equal((await h2request(session, { path: '/v2/' })).status, 200);
      for (const download of downloads) download.stream.resume();
      for (const download of downloads) {
        const answer = await download.done;
        assert.equal(answer.status, 200);
        assert.equal(sha256(answer.body), digest);
      }
    } finally {
      // Not a graceful close: after a failure the paused downloads would hold it.
      session.destroy();
      await server.close();
    }
  });
});

describe('closing with HTTP/2 connections open', () => {
  it('lets a download under way finish, tells idle connections to go, and closes', async () => {
    const server = await startBerth({ config: { http: { h2c: { enabled: true } } } });
    const idle = await openSession(server.url);
    const busy = await openSession(server.url);
    const blob = randomBlob(6 * 1024 * 1024);
    const digest = await pushBlob(busy, 'h2close/repo', blob.content);
    assert.equal((await h2request(idle, { path: '/v2/' })).status, 200);
    const download = openStream(busy, { ':method': 'GET', ':path': `/v2/h2close/repo/blobs/${digest}` });
    download.stream.pause();
    await once(download.stream, 'response');
    const goaway = once(idle, 'goaway');
    const closed = server.close();
    await goaway;
    download.stream.resume();
    const answer = await download.done;
    assert.equal(answer.status, 200);
    assert.equal(sha256(answer.body), digest, 'the download under way completes byte for byte');
    await closed;
    await closeSession(idle);
    await closeSession(busy);
  });
});

describe('metrics of HTTP/2 requests', () => {
  it('counts requests and their own bytes, not the connection’s', async () => {
    const server = await startBerth({
      config: {
        http: { h2c: { enabled: true }, debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } },
      },
    });
    const session = await openSession(server.url);
    try {
      const before = parseExposition(await server.berth.metrics());
      const blob = randomBlob(1024 * 1024);
      const path = await startUpload(session, 'h2metrics/repo');
      // Chunks without a Content-Length: counted as they arrive.
      const patch = await h2request(session, {
        method: 'PATCH',
        path,
        headers: { 'content-type': 'application/octet-stream' },
        body: [blob.content.subarray(0, 500_000), blob.content.subarray(500_000)],
      });
      assert.equal(patch.status, 202);
      assert.equal((await h2request(session, { method: 'PUT', path: withDigest(path, blob.digest) })).status, 201);
      // Two downloads at once on one connection: each counts its own bytes.
      const downloads = await Promise.all(
        [1, 2].map(() => h2request(session, { path: `/v2/h2metrics/repo/blobs/${blob.digest}` })),
      );
      for (const download of downloads) assert.equal(download.body.length, blob.content.length);
      const after = parseExposition(await server.berth.metrics());
      const delta = (name: string, labels: Record<string, string>) =>
        sumOf(after, name, labels) - sumOf(before, name, labels);
      assert.equal(delta('registry_http_requests_total', { handler: 'blob', method: 'get', code: '200' }), 2);
      const sent = delta('berth_http_sent_bytes_total', { handler: 'blob' });
      assert.ok(sent >= 2 * blob.content.length && sent < 2 * blob.content.length + 4096, `sent ${sent}`);
      const received = delta('berth_http_received_bytes_total', { handler: 'blob_upload_chunk' });
      assert.ok(received >= blob.content.length && received < blob.content.length + 4096, `received ${received}`);
    } finally {
      await closeSession(session);
      await server.close();
    }
  });
});

describe('HTTP/2 with worker processes', { skip: process.platform !== 'linux' ? 'reads /proc' : false }, () => {
  it('serves h2c from every process on the shared socket, HTTP/1.1 beside it, and stops on SIGTERM', async () => {
    const folder = tempDir('berth-h2-workers-');
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
  h2c:
    enabled: true
berth:
  workers: 2
`,
    );
    const berth = await serveBerth({ args: ['serve', file] });
    const sessions: ClientHttp2Session[] = [];
    try {
      const port = Number(new URL(berth.url).port);
      const deadline = Date.now() + 20_000;
      // The worker is the child running `berth serve` (tsx may run a helper process of its own).
      const workers = () =>
        childrenOf(berth.child.pid!).filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('serve');
          } catch {
            return false;
          }
        });
      while (workers().length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const pids = [berth.child.pid!, ...workers()];
      assert.equal(pids.length, 2);
      // Connections land on either process as the kernel hands them out: open some until both
      // processes hold one, each answering in HTTP/2 (and plain HTTP/1.1 requests beside them).
      const serving = new Set<number>();
      for (let attempt = 0; attempt < 100 && serving.size < 2; attempt++) {
        const session = await openSession(berth.url);
        sessions.push(session);
        assert.equal((await h2request(session, { path: '/v2/' })).status, 200);
        const pid = processServing(pids, port, session.socket.localPort!);
        if (pid !== undefined) serving.add(pid);
        const http1 = await fetch(`${berth.url}/v2/`, { headers: { connection: 'close' } });
        assert.equal(http1.status, 200);
        await http1.arrayBuffer();
      }
      assert.equal(serving.size, 2, 'both processes served HTTP/2 connections');
      for (const session of sessions.splice(0)) await closeSession(session);
      berth.kill('SIGTERM');
      const exit = await waitForExit(berth);
      assert.equal(exit.code, 0);
    } finally {
      for (const session of sessions) session.destroy();
      berth.kill('SIGKILL');
      for (const pid of childrenOf(berth.child.pid!)) process.kill(pid, 'SIGKILL');
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

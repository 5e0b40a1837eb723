/**
 * HTTP/2 (`http.http2`, `http.h2c`): over TLS it is chosen by ALPN unless `http2.disabled`, as
 * Distribution does, checked with curl against Berth and Debian's docker-registry (Distribution
 * 2.8) on the same requests; with `h2c.enabled` a cleartext port serves HTTP/2 with prior
 * knowledge and HTTP/1.1 side by side (Distribution 2.8 has no h2c, so there Berth is checked
 * alone). A whole image is pushed and pulled over HTTP/2 with Node's client (a chunked upload,
 * HEAD, Range, 416, requests at once on one connection) and with skopeo over TLS, byte for byte.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientHttp2Session } from 'node:http2';
import { pino } from 'pino';
import { startBerth, tempDir, tempFolders, type TestBerth } from '../helpers/berth.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { makeImage, randomBlob, sha256, OCI_MANIFEST } from '../helpers/content.js';
import { closeSession, h2request, openSession } from '../helpers/http2-client.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { assertLayoutCopy, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, run, tools } from '../helpers/tools.js';
import { makeCertificates, openssl, type TestCertificates } from '../ops/certs.js';

interface CurlResult {
  version: string;
  status: number;
  /** Header lines as they came (names in their wire spelling). */
  headerLines: string[];
  body: Buffer;
  exit: number;
}

const curlFolder = tempDir('berth-h2-curl-');
let curlCount = 0;
after(() => rmSync(curlFolder, { recursive: true, force: true }));

/** One curl request: the head from -D, the body from a file, the HTTP version and status from -w. */
async function curl(args: string[]): Promise<CurlResult> {
  const bodyFile = join(curlFolder, `body-${curlCount++}`);
  const result = await run(
    'curl',
    ['-sS', '-k', '-D', '-', '-o', bodyFile, ...args, '-w', '%{http_version} %{http_code}'],
    { allowFailure: true, timeout: 30_000 },
  );
  const lines = result.stdout.split('\r\n');
  const [version, status] = (lines.pop() ?? '').split(' ');
  const body = existsSync(bodyFile) ? readFileSync(bodyFile) : Buffer.alloc(0);
  rmSync(bodyFile, { force: true });
  return {
    version: version ?? '',
    status: Number(status),
    headerLines: lines.slice(1).filter((line) => line !== ''),
    body,
    exit: result.code,
  };
}

function header(result: CurlResult, name: string): string | undefined {
  const line = result.headerLines.find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/** Pushes a blob with curl, POST then PUT, on any registry. */
async function pushBlobWithCurl(base: string, repository: string, content: Buffer, folder: string): Promise<string> {
  const file = join(folder, `blob-${sha256(content).slice(7, 19)}`);
  writeFileSync(file, content);
  const digest = sha256(content);
  const started = await curl(['-X', 'POST', `${base}/v2/${repository}/blobs/uploads/`]);
  assert.equal(started.status, 202, `upload start on ${base}`);
  const location = new URL(header(started, 'location')!, base);
  location.searchParams.set('digest', digest);
  const pushed = await curl([
    '-X',
    'PUT',
    '-H',
    'Content-Type: application/octet-stream',
    '--data-binary',
    `@${file}`,
    location.href,
  ]);
  assert.equal(pushed.status, 201, `push to ${base}: ${pushed.body.toString()}`);
  return digest;
}

describeWithTools('HTTP/2 over TLS, as Distribution serves it', [openssl(), tools.curl(), tools.distribution()], () => {
  let certs: TestCertificates;
  let folder: string;
  const registries: Record<string, { url: string; close(): Promise<void> }> = {};
  const blob = randomBlob(4096);
  const digests: Record<string, string> = {};

  before(async () => {
    folder = tempDir('berth-h2-tls-');
    certs = makeCertificates(folder);
    const tls = { certificate: certs.server.certFile, key: certs.server.keyFile };
    const berth = await startBerth({ config: { http: { tls } } });
    registries.berth = { url: `https://${berth.host}`, close: () => berth.close() };
    const berthHttp1 = await startBerth({ config: { http: { tls, http2: { disabled: true } } } });
    registries.berthHttp1 = { url: `https://${berthHttp1.host}`, close: () => berthHttp1.close() };
    const distribution = await startDockerRegistry({ tls });
    registries.distribution = distribution;
    const distributionHttp1 = await startDockerRegistry({ tls, config: { http: { http2: { disabled: true } } } });
    registries.distributionHttp1 = distributionHttp1;
    for (const name of ['berth', 'distribution'])
      digests[name] = await pushBlobWithCurl(registries[name]!.url, 'h2/blob', blob.content, folder);
  });

  after(async () => {
    for (const registry of Object.values(registries)) await registry.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('answers curl --http2 in HTTP/2 by ALPN, as Distribution does, with lower-case header names', async () => {
    for (const name of ['berth', 'distribution']) {
      const result = await curl(['--http2', `${registries[name]!.url}/v2/`]);
      assert.equal(result.version, '2', `${name}: HTTP version`);
      assert.equal(result.status, 200, name);
      assert.ok(
        result.headerLines.includes('docker-distribution-api-version: registry/2.0'),
        `${name}: ${result.headerLines.join(' | ')}`,
      );
      const names = result.headerLines.map((line) => line.slice(0, line.indexOf(':')));
      assert.deepEqual(
        names,
        names.map((headerName) => headerName.toLowerCase()),
        `${name}: header names in lower case`,
      );
    }
  });

  it('serves HTTP/1.1 on the same port to a client that asks for it, with canonical header names', async () => {
    for (const name of ['berth', 'distribution']) {
      const result = await curl(['--http1.1', `${registries[name]!.url}/v2/`]);
      assert.equal(result.version, '1.1', name);
      assert.ok(result.headerLines.includes('Docker-Distribution-Api-Version: registry/2.0'), name);
    }
  });

  it('with http2.disabled serves HTTP/1.1 only over TLS, as Distribution does', async () => {
    for (const name of ['berthHttp1', 'distributionHttp1']) {
      const result = await curl(['--http2', `${registries[name]!.url}/v2/`]);
      assert.equal(result.version, '1.1', `${name}: HTTP version`);
      assert.equal(result.status, 200, name);
    }
  });

  it('answers blob GET, HEAD, Range and an unsatisfiable range over HTTP/2 as Distribution does', async () => {
    for (const name of ['berth', 'distribution']) {
      const url = `${registries[name]!.url}/v2/h2/blob/blobs/${digests[name]}`;
      const whole = await curl(['--http2', url]);
      assert.equal(whole.version, '2', name);
      assert.equal(whole.status, 200, name);
      assert.equal(header(whole, 'docker-content-digest'), blob.digest, name);
      assert.deepEqual(whole.body, blob.content, name);

      const head = await curl(['--http2', '-I', url]);
      assert.equal(head.exit, 0, `${name}: curl -I ends at once over HTTP/2`);
      assert.equal(head.status, 200, name);
      assert.equal(header(head, 'content-length'), String(blob.content.length), name);

      const range = await curl(['--http2', '-H', 'Range: bytes=10-19', url]);
      assert.equal(range.status, 206, name);
      assert.equal(header(range, 'content-range'), `bytes 10-19/${blob.content.length}`, name);
      assert.deepEqual(range.body, blob.content.subarray(10, 20), name);

      const beyond = await curl(['--http2', '-H', `Range: bytes=${blob.content.length + 10}-`, url]);
      assert.equal(beyond.version, '2', name);
      assert.equal(beyond.status, 416, name);

      const unknown = await curl(['--http2', `${registries[name]!.url}/v2/h2/blob/blobs/${sha256('absent')}`]);
      assert.equal(unknown.status, 404, name);
      assert.equal(JSON.parse(unknown.body.toString()).errors[0].code, 'BLOB_UNKNOWN', name);
    }
  });
});

describeWithTools('skopeo over TLS with HTTP/2 offered', [openssl(), tools.skopeo(), tools.distribution()], () => {
  let certs: TestCertificates;
  const folders = tempFolders();
  let berth: TestBerth;
  let distribution: TestDockerRegistry;
  let certDir: string;
  let source: OciLayout;
  const berthProtocols: string[] = [];

  before(async () => {
    const folder = folders.make('berth-h2-skopeo-');
    certs = makeCertificates(folder);
    // skopeo reads CA certificates from *.crt files in --dest-cert-dir / --src-cert-dir.
    certDir = join(folder, 'certs.d');
    mkdirSync(certDir);
    copyFileSync(certs.server.certFile, join(certDir, 'ca.crt'));
    const tls = { certificate: certs.server.certFile, key: certs.server.keyFile };
    const logger = pino(
      { level: 'info' },
      {
        write(line: string) {
          const entry = JSON.parse(line) as { msg?: string; protocol?: string };
          if (entry.msg === 'request' && entry.protocol) berthProtocols.push(entry.protocol);
        },
      },
    );
    berth = await startBerth({ config: { http: { tls }, log: { accesslog: { disabled: false } } }, logger });
    distribution = await startDockerRegistry({ tls, accessLog: true });
    source = await OciLayout.create(folders.make('berth-h2-layout-'));
    const layer = await source.writeRandomLayer(3 * 1024 * 1024);
    const image = await source.writeImage({ layers: [layer], label: 'h2' });
    await source.tag(image.manifest, 'v1');
  });

  after(async () => {
    await berth.close();
    await distribution.close();
    await folders.removeAll();
  });

  it('pushes and pulls an image with verified TLS, byte for byte, in the protocol it uses with Distribution', async () => {
    for (const [name, host] of [
      ['berth', berth.host],
      ['distribution', distribution.host],
    ] as const) {
      await skopeo(['copy', '--dest-cert-dir', certDir, `oci:${source.dir}:v1`, `docker://${host}/h2/image:v1`]);
      const out = folders.make(`berth-h2-pull-${name}-`);
      await skopeo(['copy', '--src-cert-dir', certDir, `docker://${host}/h2/image:v1`, `oci:${out}:v1`]);
      await assertLayoutCopy(source.dir, out, ['v1']);
    }
    // skopeo 1.9's Go transport, given its own TLS settings, does not offer h2: both registries
    // see the same protocol from it, whatever it is.
    const distributionProtocols = new Set(distribution.accessProtocols());
    assert.ok(distributionProtocols.size > 0, 'Distribution logged the requests');
    assert.deepEqual(new Set(berthProtocols), distributionProtocols);
  });
});

/** Pushes an image over one HTTP/2 session (a chunked upload for the layer) and pulls it back. */
async function pushAndPull(session: ClientHttp2Session): Promise<void> {
  const image = makeImage({ layers: 1 });
  const layer = randomBlob(5 * 1024 * 1024 + 17);
  const manifest = JSON.parse(image.manifest.toString()) as { layers: { digest: string; size: number }[] };
  manifest.layers[0] = { ...manifest.layers[0]!, digest: layer.digest, size: layer.content.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));

  // The config in one monolithic POST.
  const config = await h2request(session, {
    method: 'POST',
    path: `/v2/h2/pushed/blobs/uploads/?digest=${image.config.digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    body: image.config.content,
  });
  assert.equal(config.status, 201);

  // The layer in two PATCHes, the second streamed in pieces without a Content-Length.
  const started = await h2request(session, { method: 'POST', path: '/v2/h2/pushed/blobs/uploads/' });
  assert.equal(started.status, 202);
  let location = new URL(String(started.headers.location), 'http://x');
  const half = 2 * 1024 * 1024;
  const first = await h2request(session, {
    method: 'PATCH',
    path: location.pathname + location.search,
    headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` },
    body: layer.content.subarray(0, half),
  });
  assert.equal(first.status, 202);
  assert.equal(first.headers.range, `0-${half - 1}`);
  location = new URL(String(first.headers.location), 'http://x');
  const rest = layer.content.subarray(half);
  const pieces = [rest.subarray(0, 1000), rest.subarray(1000, 1_500_000), rest.subarray(1_500_000)];
  const second = await h2request(session, {
    method: 'PATCH',
    path: location.pathname + location.search,
    headers: { 'content-type': 'application/octet-stream' },
    body: pieces,
  });
  assert.equal(second.status, 202);
  assert.equal(second.headers.range, `0-${layer.content.length - 1}`);
  location = new URL(String(second.headers.location), 'http://x');
  const closed = await h2request(session, {
    method: 'PUT',
    path: `${location.pathname}${location.search ? `${location.search}&` : '?'}digest=${layer.digest}`,
  });
  assert.equal(closed.status, 201);
  assert.equal(closed.headers['docker-content-digest'], layer.digest);

  const put = await h2request(session, {
    method: 'PUT',
    path: '/v2/h2/pushed/manifests/v1',
    headers: { 'content-type': OCI_MANIFEST },
    body: manifestBytes,
  });
  assert.equal(put.status, 201);

  const pulled = await h2request(session, {
    path: '/v2/h2/pushed/manifests/v1',
    headers: { accept: OCI_MANIFEST },
  });
  assert.equal(pulled.status, 200);
  assert.deepEqual(pulled.body, manifestBytes);

  // Several downloads of the layer at once on the one connection, each byte for byte.
  const downloads = await Promise.all(
    Array.from({ length: 6 }, () => h2request(session, { path: `/v2/h2/pushed/blobs/${layer.digest}` })),
  );
  for (const download of downloads) {
    assert.equal(download.status, 200);
    assert.equal(download.body.length, layer.content.length);
    assert.equal(sha256(download.body), layer.digest);
  }

  const head = await h2request(session, { method: 'HEAD', path: `/v2/h2/pushed/blobs/${layer.digest}` });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(layer.content.length));
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.connection, undefined);

  const range = await h2request(session, {
    path: `/v2/h2/pushed/blobs/${layer.digest}`,
    headers: { range: 'bytes=1048576-1048675' },
  });
  assert.equal(range.status, 206);
  assert.deepEqual(range.body, layer.content.subarray(1048576, 1048676));

  const beyond = await h2request(session, {
    path: `/v2/h2/pushed/blobs/${layer.digest}`,
    headers: { range: `bytes=${layer.content.length}-` },
  });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${layer.content.length}`);
}

describeWithTools('a whole push and pull over HTTP/2', [openssl()], () => {
  let folder: string;
  let certs: TestCertificates;
  before(() => {
    folder = tempDir('berth-h2-push-');
    certs = makeCertificates(folder);
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('over TLS (ALPN h2)', async () => {
    const berth = await startBerth({
      config: { http: { tls: { certificate: certs.server.certFile, key: certs.server.keyFile } } },
    });
    const session = await openSession(`https://${berth.host}`, { ca: certs.server.cert });
    try {
      assert.equal(session.alpnProtocol, 'h2');
      await pushAndPull(session);
    } finally {
      await closeSession(session);
      await berth.close();
    }
  });

  it('checks client certificates on HTTP/2 connections as on HTTP/1.1 ones', async () => {
    for (const clientauth of ['require-any-client-cert', 'require-and-verify-client-cert']) {
      const berth = await startBerth({
        config: {
          http: {
            tls: {
              certificate: certs.server.certFile,
              key: certs.server.keyFile,
              clientcas: [certs.ca.certFile],
              clientauth,
            },
          },
        },
      });
      try {
        const withCertificate = await openSession(`https://${berth.host}`, {
          ca: certs.server.cert,
          cert: certs.client.cert,
          key: certs.client.key,
        });
        assert.equal(withCertificate.alpnProtocol, 'h2');
        assert.equal((await h2request(withCertificate, { path: '/v2/' })).status, 200, clientauth);
        await closeSession(withCertificate);
        const refused = await openSession(`https://${berth.host}`, { ca: certs.server.cert })
          .then((session) => h2request(session, { path: '/v2/' }).finally(() => session.destroy()))
          .then(
            (reply) => reply.status,
            (error: Error) => error.message,
          );
        assert.ok(typeof refused === 'string', `${clientauth}: without a client certificate: ${refused}`);
      } finally {
        await berth.close();
      }
    }
  });

  it('in cleartext with h2c, HTTP/1.1 still served on the same port', async () => {
    const berth = await startBerth({ config: { http: { h2c: { enabled: true } } } });
    const session = await openSession(berth.url);
    try {
      await pushAndPull(session);
      const http1 = await fetch(`${berth.url}/v2/h2/pushed/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(http1.status, 200);
      assert.equal((await http1.arrayBuffer()).byteLength > 0, true);
    } finally {
      await closeSession(session);
      await berth.close();
    }
  });
});

describeWithTools('h2c with curl', [tools.curl()], () => {
  let h2c: TestBerth;
  let plain: TestBerth;
  before(async () => {
    h2c = await startBerth({ config: { http: { h2c: { enabled: true } } } });
    plain = await startBerth();
  });
  after(async () => {
    await h2c.close();
    await plain.close();
  });

  it('answers --http2-prior-knowledge in HTTP/2 and plain requests in HTTP/1.1 on the same port', async () => {
    const http2 = await curl(['--http2-prior-knowledge', `${h2c.url}/v2/`]);
    assert.equal(http2.version, '2');
    assert.equal(http2.status, 200);
    assert.ok(http2.headerLines.includes('docker-distribution-api-version: registry/2.0'));
    const http1 = await curl([`${h2c.url}/v2/`]);
    assert.equal(http1.version, '1.1');
    assert.ok(http1.headerLines.includes('Docker-Distribution-Api-Version: registry/2.0'));
    // curl --http2 on http: asks to upgrade (Upgrade: h2c); the answer comes in HTTP/1.1.
    const upgrade = await curl(['--http2', `${h2c.url}/v2/`]);
    assert.equal(upgrade.version, '1.1');
    assert.equal(upgrade.status, 200);
  });

  it('serves HTTP/1.1 only without h2c: a prior-knowledge client gets no HTTP/2', async () => {
    const refused = await curl(['--http2-prior-knowledge', `${plain.url}/v2/`]);
    assert.notEqual(refused.version, '2');
    const http1 = await curl([`${plain.url}/v2/`]);
    assert.equal(http1.status, 200);
  });
});

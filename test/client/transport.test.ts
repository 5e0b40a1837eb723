/**
 * The client's behaviour on a misbehaving network or server, through a real proxy in front of a
 * real Berth: retries of idempotent requests only, digest verification of everything downloaded,
 * redirects that drop credentials, and the parsers for Link and WWW-Authenticate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mergeScopes, parseChallenges } from '../../src/client/auth.js';
import { ClientError } from '../../src/client/errors.js';
import { nextPage } from '../../src/client/pagination.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { sha256 } from '../helpers/content.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { dockerRegistryMissing, startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { berthInProcess } from '../helpers/cli.js';
import { describeUnless } from '../helpers/tools.js';

function kindOf(error: unknown): string {
  return error instanceof ClientError ? error.kind : `not a ClientError: ${String(error)}`;
}

describe('transport: retries', () => {
  let berth: TestBerth;
  let proxy: TestProxy;
  let failures = 0;
  const image = buildImage();
  before(async () => {
    berth = await startBerth();
    const direct = new RegistryClient(berth.host);
    await pushBuiltImage(direct, 'app', 'v1', image);
    direct.close();
    proxy = await startProxy(berth.url, {
      intercept(request, response) {
        if (failures <= 0) return false;
        failures--;
        if (request.url?.includes('/tags/list')) {
          // A dropped connection, then a 503 with Retry-After.
          if (failures % 2 === 1) {
            response.socket?.destroy();
            return true;
          }
        }
        response.writeHead(503, { 'Retry-After': '0', 'Content-Type': 'application/json' });
        response.end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
        return true;
      },
    });
  });
  after(async () => {
    await proxy.close();
    await berth.close();
  });

  it('retries GET and HEAD after 503s and dropped connections, then succeeds', async () => {
    const registry = new RegistryClient(proxy.host, { retryDelayMs: 1 });
    try {
      failures = 2;
      const before = proxy.seen.length;
      assert.deepEqual(await registry.tags('app'), ['v1']);
      assert.equal(proxy.seen.length - before, 3);
      failures = 3;
      assert.equal(await registry.digest('app', 'v1'), image.digest);
      assert.equal(failures, 0);
    } finally {
      registry.close();
    }
  });

  it('gives up after the configured retries with the last status', async () => {
    const registry = new RegistryClient(proxy.host, { retryDelayMs: 1, retries: 2 });
    try {
      failures = 10;
      const before = proxy.seen.length;
      await assert.rejects(registry.getManifest('app', 'v1'), (error) => {
        assert.equal(kindOf(error), 'failure');
        assert.equal((error as ClientError).status, 503);
        assert.match((error as Error).message, /UNAVAILABLE/);
        return true;
      });
      assert.equal(proxy.seen.length - before, 3);
    } finally {
      failures = 0;
      registry.close();
    }
  });

  it('does not retry a POST (starting an upload is not idempotent)', async () => {
    const registry = new RegistryClient(proxy.host, { retryDelayMs: 1 });
    try {
      failures = 1;
      const before = proxy.seen.length;
      await assert.rejects(
        registry.uploadBlob('app', Buffer.from('hello')),
        (error) => (error as ClientError).status === 503,
      );
      assert.deepEqual(proxy.seen.slice(before), ['POST /v2/app/blobs/uploads/']);
    } finally {
      failures = 0;
      registry.close();
    }
  });

  it('names an unreachable registry and says what to check', async () => {
    const registry = new RegistryClient('127.0.0.1:1', { retryDelayMs: 1, retries: 1 });
    try {
      await assert.rejects(registry.ping(), (error) => {
        assert.equal(kindOf(error), 'network');
        assert.match((error as Error).message, /connection refused/);
        assert.match((error as ClientError).hint ?? '', /127\.0\.0\.1:1/);
        return true;
      });
    } finally {
      registry.close();
    }
  });
});

describe('digest verification of downloads', () => {
  let berth: TestBerth;
  let proxy: TestProxy;
  const image = buildImage();
  before(async () => {
    berth = await startBerth();
    const direct = new RegistryClient(berth.host);
    await pushBuiltImage(direct, 'app', 'v1', image);
    direct.close();
    // Flips the first byte of every blob and manifest body it forwards.
    proxy = await startProxy(berth.url, {
      rewrite(request, body) {
        if (body.length === 0 || !/\/(blobs|manifests)\//.test(request.url ?? '')) return body;
        const copy = Buffer.from(body);
        copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x01;
        return copy;
      },
    });
  });
  after(async () => {
    await proxy.close();
    await berth.close();
  });

  it('fails a blob stream whose bytes do not match the digest', async () => {
    const registry = new RegistryClient(proxy.host);
    try {
      const layer = image.blobs[1]!;
      const { stream } = await registry.openBlob('app', layer.digest);
      const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
      await assert.rejects(pipeline(stream, sink), (error) => {
        assert.equal(kindOf(error), 'digest-mismatch');
        assert.match((error as Error).message, new RegExp(`expected ${layer.digest}`));
        return true;
      });
      await assert.rejects(registry.getBlobBytes('app', layer.digest), (error) => kindOf(error) === 'digest-mismatch');
    } finally {
      registry.close();
    }
  });

  it('refuses a manifest whose bytes do not match the digest asked for or announced', async () => {
    const registry = new RegistryClient(proxy.host);
    try {
      await assert.rejects(registry.getManifest('app', image.digest), (error) => kindOf(error) === 'digest-mismatch');
      // By tag: checked against Docker-Content-Digest.
      await assert.rejects(registry.getManifest('app', 'v1'), (error) => kindOf(error) === 'digest-mismatch');
    } finally {
      registry.close();
    }
  });
});

describe('redirects and Basic auth', () => {
  let storage: Server;
  let storageUrl: string;
  let front: Server;
  let frontHost: string;
  const storageHeaders: Array<string | undefined> = [];
  const frontAuth: Array<string | undefined> = [];
  const blob = Buffer.from('blob bytes served by the storage behind a redirect');
  const digest = sha256(blob);

  before(async () => {
    storage = createServer((request, response) => {
      storageHeaders.push(request.headers.authorization);
      response.writeHead(200, { 'Content-Length': blob.length }).end(blob);
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    storageUrl = `http://localhost:${(storage.address() as { port: number }).port}`;
    front = createServer((request, response) => {
      frontAuth.push(request.headers.authorization);
      const expected = `Basic ${Buffer.from('bob:secret').toString('base64')}`;
      if (request.headers.authorization !== expected) {
        response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"', 'Content-Type': 'application/json' });
        response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      response.writeHead(307, { Location: `${storageUrl}/bucket/data?signature=abc` }).end();
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontHost = `127.0.0.1:${(front.address() as { port: number }).port}`;
  });
  after(async () => {
    for (const server of [storage, front]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('answers a Basic challenge, follows the redirect and does not send credentials to another host', async () => {
    const registry = new RegistryClient(frontHost, { credentials: { username: 'bob', password: 'secret' } });
    try {
      assert.deepEqual(await registry.getBlobBytes('app', digest), blob);
      assert.equal(frontAuth[0], undefined);
      assert.match(frontAuth[1] ?? '', /^Basic /);
      assert.deepEqual(storageHeaders, [undefined]);
      // Basic is now known: the next request carries it from the start.
      await registry.getBlobBytes('app', digest);
      assert.equal(frontAuth.length, 3);
    } finally {
      registry.close();
    }
  });
});

describeUnless(dockerRegistryMissing(), 'HTTPS and plain HTTP', () => {
  let folder: string;
  let secure: TestDockerRegistry;
  let plain: TestBerth;
  before(async () => {
    folder = tempDir('tls-');
    const certificate = join(folder, 'cert.pem');
    const key = join(folder, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        certificate,
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    secure = await startDockerRegistry({ tls: { certificate, key } });
    plain = await startBerth();
  });
  after(async () => {
    await secure?.close();
    await plain?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('refuses an untrusted certificate unless told to be insecure', async () => {
    const strict = new RegistryClient(secure.host, { plainHttp: false, retries: 0 });
    const insecure = new RegistryClient(secure.host, { plainHttp: false, insecure: true });
    try {
      assert.equal(strict.baseUrl, `https://${secure.host}`);
      await assert.rejects(strict.ping(), (error) => {
        assert.equal(kindOf(error), 'network');
        assert.match((error as ClientError).hint ?? '', /--insecure/);
        return true;
      });
      assert.equal((await insecure.ping()).apiVersion, 'registry/2.0');
    } finally {
      strict.close();
      insecure.close();
    }
    // The same through the command line's flags.
    const env = { DOCKER_CONFIG: folder };
    const refused = await berthInProcess(['catalog', secure.host, '--no-plain-http'], { env });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /hint: .*--insecure/);
    const accepted = await berthInProcess(['catalog', secure.host, '--no-plain-http', '--insecure', '--json'], { env });
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.deepEqual(accepted.json().repositories, []);
  });

  it('uses plain HTTP for loopback by default, and says so when HTTPS meets a plain server', async () => {
    const byDefault = new RegistryClient(plain.host);
    const forced = new RegistryClient(plain.host, { plainHttp: false, retries: 0 });
    try {
      assert.equal(byDefault.baseUrl, `http://${plain.host}`);
      await byDefault.ping();
      await assert.rejects(forced.ping(), (error) => {
        assert.equal(kindOf(error), 'network');
        assert.match((error as ClientError).hint ?? '', /--plain-http/);
        return true;
      });
    } finally {
      byDefault.close();
      forced.close();
    }
    assert.equal(new RegistryClient('registry.example.com').baseUrl, 'https://registry.example.com');
    assert.equal(
      new RegistryClient('registry.example.com:5000', { plainHttp: true }).baseUrl,
      'http://registry.example.com:5000',
    );
    assert.equal(new RegistryClient('docker.io').baseUrl, 'https://registry-1.docker.io');
  });
});

describe('protocol parsers', () => {
  it('reads Link headers, relative and absolute, among several relations', () => {
    const current = new URL('http://registry.test:5000/v2/_catalog?n=2');
    assert.equal(
      nextPage('</v2/_catalog?last=b&n=2>; rel="next"', current)?.href,
      'http://registry.test:5000/v2/_catalog?last=b&n=2',
    );
    assert.equal(
      nextPage('<https://other.test/v2/x/tags/list?n=1&last=a>; rel=next', current)?.href,
      'https://other.test/v2/x/tags/list?n=1&last=a',
    );
    assert.equal(nextPage('</a>; rel="prev", </b,c>; rel="next"', current)?.pathname, '/b,c');
    assert.equal(nextPage('</a>; rel="prev"', current), undefined);
    assert.equal(nextPage(undefined, current), undefined);
  });

  it('reads WWW-Authenticate challenges', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.test/token', service: 'registry.test', scope: 'repository:a/b:pull,push' },
        },
      ],
    );
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="x"'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="a \\"quoted\\" realm"')[0]?.params.realm, 'a "quoted" realm');
  });

  it('merges scopes per resource into stable cache keys', () => {
    assert.deepEqual(mergeScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull']), [
      'repository:a:pull',
      'repository:b:pull,push',
    ]);
    assert.deepEqual(mergeScopes(['registry:catalog:*']), ['registry:catalog:*']);
  });
});

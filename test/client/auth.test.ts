/**
 * Authentication details beyond "it works": Bearer tokens are cached per scope and renewed when
 * they expire, a cross-repository mount asks for both repositories' scopes in one token, and
 * credentials are read from and written to Docker's config.json (honouring DOCKER_CONFIG).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialStore, dockerConfigPath } from '../../src/client/credentials.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { tempDir } from '../helpers/berth.js';
import { dockerRegistryMissing, startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';
import { randomBlob } from '../helpers/content.js';
import { USER } from '../helpers/targets.js';
import { describeUnless } from '../helpers/tools.js';

describeUnless(dockerRegistryMissing(), 'Bearer tokens against docker-registry with a token server', () => {
  let issuer: TokenIssuer;
  let shortIssuer: TokenIssuer;
  let registry: TestDockerRegistry;
  let shortLived: TestDockerRegistry;
  before(async () => {
    issuer = await startTokenIssuer({ users: { [USER.username]: USER.password } });
    registry = await startDockerRegistry({
      token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootcertbundle: issuer.certPath },
    });
    // Tokens that live 1 s: shorter than the client's renewal margin, so each is used once.
    shortIssuer = await startTokenIssuer({ users: { [USER.username]: USER.password }, expiresIn: 1 });
    shortLived = await startDockerRegistry({
      token: {
        realm: shortIssuer.realm,
        service: shortIssuer.service,
        issuer: shortIssuer.issuer,
        rootcertbundle: shortIssuer.certPath,
      },
    });
  });
  after(async () => {
    await registry?.close();
    await shortLived?.close();
    await issuer?.close();
    await shortIssuer?.close();
  });

  it('asks for a token once per scope and reuses it', async () => {
    const client = new RegistryClient(registry.host, { credentials: USER });
    try {
      const image = buildImage();
      await pushBuiltImage(client, 'team/one', 'v1', image);
      const afterPush = issuer.requests.length;
      assert.ok(issuer.requests.every((request) => request.account === USER.username && request.status === 200));
      for (let round = 0; round < 3; round++) {
        await client.getManifest('team/one', 'v1');
        await client.tags('team/one');
      }
      // The push already fetched the pull token (it checks for blobs first): no request since.
      assert.equal(issuer.requests.length, afterPush);
      await client.catalog();
      await client.catalog();
      assert.deepEqual(
        issuer.requests.slice(afterPush).map((request) => request.scopes),
        [['registry:catalog:*']],
      );
      const keys = issuer.requests.map((request) => [...request.scopes].sort().join(' '));
      assert.equal(new Set(keys).size, keys.length, `a scope was asked twice: ${keys.join(' | ')}`);
    } finally {
      client.close();
    }
  });

  it('asks for pull on the source and push on the target in one token to mount', async () => {
    const client = new RegistryClient(registry.host, { credentials: USER });
    try {
      const blob = randomBlob(600);
      await client.uploadBlob('team/source', blob.content);
      const before = issuer.requests.length;
      assert.equal(await client.mountBlob('team/target', blob.digest, 'team/source'), true);
      const asked = issuer.requests.slice(before).map((request) => request.scopes.sort());
      assert.deepEqual(asked, [['repository:team/source:pull', 'repository:team/target:pull,push']]);
    } finally {
      client.close();
    }
  });

  it('renews a token once it has expired', async () => {
    const client = new RegistryClient(shortLived.host, { credentials: USER });
    try {
      await pushBuiltImage(client, 'team/short', 'v1', buildImage());
      const before = shortIssuer.requests.length;
      await client.getManifest('team/short', 'v1');
      await client.getManifest('team/short', 'v1');
      await client.getManifest('team/short', 'v1');
      assert.equal(shortIssuer.requests.length - before, 3);
    } finally {
      client.close();
    }
  });

  it('reports refused credentials as an auth error from the token service', async () => {
    const client = new RegistryClient(registry.host, { credentials: { username: USER.username, password: 'wrong' } });
    try {
      await assert.rejects(client.tags('team/one'), (error: Error & { kind?: string; hint?: string }) => {
        assert.equal(error.kind, 'auth');
        assert.match(error.message, /token service .* refused the credentials of "alice"/);
        assert.match(error.hint ?? '', /berth login/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});

describe("credentials in Docker's config.json", () => {
  let folder: string;
  let previous: string | undefined;
  before(() => {
    folder = tempDir('docker-config-');
    previous = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = folder;
  });
  after(() => {
    if (previous === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = previous;
    rmSync(folder, { recursive: true, force: true });
  });

  it('honours DOCKER_CONFIG, writes base64 user:password with mode 0600 and keeps other keys', () => {
    assert.equal(dockerConfigPath(), join(folder, 'config.json'));
    writeFileSync(
      join(folder, 'config.json'),
      JSON.stringify({ auths: { 'other.test': { auth: 'eDp5' } }, psFormat: 'table' }),
    );
    const store = new CredentialStore();
    store.set('localhost:5000', 'alice', 'p:ss word');
    const written = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
    assert.equal(written.psFormat, 'table');
    assert.equal(written.auths['other.test'].auth, 'eDp5');
    assert.equal(written.auths['localhost:5000'].auth, Buffer.from('alice:p:ss word').toString('base64'));
    assert.equal(statSync(join(folder, 'config.json')).mode & 0o777, 0o600);
    assert.deepEqual(store.get('localhost:5000'), { username: 'alice', password: 'p:ss word' });
    assert.deepEqual(store.get('other.test'), { username: 'x', password: 'y' });
    assert.equal(store.get('unknown.test'), undefined);
  });

  it('finds entries other tools wrote under URLs, and Docker Hub under its historical key', () => {
    const path = join(folder, 'sub', 'config.json');
    mkdirSync(join(folder, 'sub'));
    writeFileSync(
      path,
      JSON.stringify({
        auths: {
          'https://registry.example.com': { auth: Buffer.from('bob:b').toString('base64') },
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:h').toString('base64') },
          'plain.example.com': { username: 'carol', password: 'c' },
          'token.example.com': { auth: Buffer.from('<token>:').toString('base64'), identitytoken: 'refresh-me' },
        },
      }),
    );
    const store = new CredentialStore(path);
    assert.deepEqual(store.get('registry.example.com'), { username: 'bob', password: 'b' });
    assert.deepEqual(store.get('docker.io'), { username: 'hub', password: 'h' });
    assert.deepEqual(store.get('plain.example.com'), { username: 'carol', password: 'c' });
    assert.equal(store.get('token.example.com')?.identityToken, 'refresh-me');
    assert.equal(store.remove('registry.example.com'), true);
    assert.equal(store.get('registry.example.com'), undefined);
    assert.equal(store.remove('registry.example.com'), false);
  });

  it('explains a config file that is not JSON', () => {
    const path = join(folder, 'broken.json');
    writeFileSync(path, '{ not json');
    assert.throws(() => new CredentialStore(path).get('x'), /cannot read .*broken\.json/);
  });
});

/**
 * Bearer tokens from an external token server (`auth.token` with realm, service, issuer,
 * rootcertbundle and jwks), verified as Distribution verifies them: which keys are trusted
 * (x5c chains to the bundle, kid from the bundle or the JWKS, an embedded jwk only if trusted),
 * every refusal with its 401 and message, the exact scope each request is challenged with, and
 * a refused upload that still reads its answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK } from 'jose';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { client, generatedStream, type Api } from '../helpers/http.js';
import { jwkThumbprint, libtrustKeyId } from '../../src/auth/token/keys.js';
import {
  certify,
  ecKey,
  mint,
  parseChallenge,
  rsaKey,
  unsignedToken,
  type Certified,
  type KeyPair,
} from './support.js';

const REALM = 'https://auth.example.test/token';
const SERVICE = 'test-service';
const ISSUER = 'test-issuer';
const ALL = [{ type: 'repository', name: 'acme/app', actions: ['*'] }];

describe('verifying tokens of an external token server', () => {
  let server: TestBerth;
  let api: Api;
  let root: Certified;
  let intermediate: Certified;
  let leaf: Certified;
  let stranger: Certified;
  let jwksKey: KeyPair;
  const folder = tempDir('berth-auth-verify-');

  before(async () => {
    root = certify(ecKey(), 'Test Root CA');
    intermediate = certify(ecKey(), 'Test Intermediate CA', root);
    leaf = certify(ecKey(), 'Test token signer', intermediate, { ca: false });
    stranger = certify(ecKey(), 'Someone else');
    jwksKey = rsaKey();
    writeFileSync(join(folder, 'bundle.pem'), root.pem);
    writeFileSync(
      join(folder, 'jwks.json'),
      JSON.stringify({ keys: [{ ...(await exportJWK(jwksKey.publicKey)), kid: 'jwks-key-1', use: 'sig' }] }),
    );
    server = await startBerth({
      config: {
        auth: {
          token: {
            realm: REALM,
            service: SERVICE,
            issuer: ISSUER,
            rootcertbundle: join(folder, 'bundle.pem'),
            jwks: join(folder, 'jwks.json'),
          },
        },
      },
    });
    api = client(server.url);
  });
  after(() => server.close());

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  /** 404 NAME_UNKNOWN means the request got past the guard. */
  const admitted = async (token: string, context: string) => {
    const reply = await api('GET', '/v2/acme/app/tags/list', { headers: bearer(token) });
    assert.equal(reply.status, 404, `${context}: ${reply.text()}`);
  };
  const refused = async (token: string, message: RegExp, context: string) => {
    const reply = await api('GET', '/v2/acme/app/tags/list', { headers: bearer(token) });
    assert.equal(reply.status, 401, `${context}: ${reply.text()}`);
    const challenge = parseChallenge(reply.header('www-authenticate'));
    assert.equal(challenge?.params.error, 'invalid_token', context);
    assert.equal(challenge?.params.scope, 'repository:acme/app:pull', context);
    const body = reply.json();
    assert.equal(body.errors[0].code, 'UNAUTHORIZED');
    assert.match(body.errors[0].message, message, context);
  };

  it('challenges an anonymous request with realm, service and the exact scope', async () => {
    const reply = await api('GET', '/v2/acme/app/manifests/latest');
    assert.equal(reply.status, 401);
    assert.equal(
      reply.header('www-authenticate'),
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:acme/app:pull"`,
    );
    assert.deepEqual(reply.json(), {
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          detail: [{ Type: 'repository', Name: 'acme/app', Action: 'pull' }],
        },
      ],
    });
  });

  it('names pull for reads, pull,push for uploads and manifest PUT, delete for DELETE, the catalog scope for the catalog', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const cases: Array<[string, string, string | undefined]> = [
      ['HEAD', '/v2/acme/app/manifests/latest', 'repository:acme/app:pull'],
      ['GET', `/v2/acme/app/blobs/${digest}`, 'repository:acme/app:pull'],
      ['GET', `/v2/acme/app/referrers/${digest}`, 'repository:acme/app:pull'],
      ['POST', '/v2/acme/app/blobs/uploads/', 'repository:acme/app:pull,push'],
      ['PATCH', '/v2/acme/app/blobs/uploads/0b8c3a4e-3f0e-4a63-9d0e-2b1f0a0b6c1d', 'repository:acme/app:pull,push'],
      ['PUT', '/v2/acme/app/manifests/latest', 'repository:acme/app:pull,push'],
      ['DELETE', `/v2/acme/app/manifests/${digest}`, 'repository:acme/app:delete'],
      ['DELETE', `/v2/acme/app/blobs/${digest}`, 'repository:acme/app:delete'],
      [
        'POST',
        `/v2/acme/app/blobs/uploads/?mount=${digest}&from=acme/base`,
        'repository:acme/app:pull,push repository:acme/base:pull',
      ],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
      ['GET', '/v2/', undefined],
    ];
    for (const [method, path, scope] of cases) {
      const reply = await api(method, path);
      assert.equal(reply.status, 401, `${method} ${path}`);
      const challenge = parseChallenge(reply.header('www-authenticate'));
      assert.equal(challenge?.scheme, 'Bearer');
      assert.equal(challenge?.params.scope, scope, `${method} ${path}`);
      assert.equal(challenge?.params.error, undefined);
    }
  });

  it('accepts a key whose x5c chain leads to the bundle, directly or through an intermediate', async () => {
    await admitted(
      await mint({ key: root.privateKey, header: { x5c: [root.der] }, iss: ISSUER, aud: SERVICE, access: ALL }),
      'root in x5c',
    );
    await admitted(
      await mint({
        key: leaf.privateKey,
        header: { x5c: [leaf.der, intermediate.der] },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      'leaf + intermediate',
    );
    await admitted(
      await mint({
        key: leaf.privateKey,
        header: { x5c: [leaf.der, intermediate.der, root.der] },
        iss: ISSUER,
        aud: [SERVICE, 'other'],
        access: ALL,
      }),
      'full chain, aud list',
    );
  });

  it('accepts a kid naming a trusted key: libtrust ID or thumbprint of the bundle, or a JWKS key', async () => {
    await admitted(
      await mint({
        key: root.privateKey,
        header: { kid: libtrustKeyId(root.publicKey) },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      'libtrust kid',
    );
    await admitted(
      await mint({
        key: root.privateKey,
        header: { kid: jwkThumbprint(root.publicKey) },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      'thumbprint kid',
    );
    await admitted(
      await mint({
        key: jwksKey.privateKey,
        alg: 'RS256',
        header: { kid: 'jwks-key-1' },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      'JWKS kid',
    );
    await admitted(
      await mint({
        key: root.privateKey,
        header: { jwk: await exportJWK(root.publicKey) },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      'trusted jwk',
    );
  });

  it('accepts a token just past exp or just before nbf (60 s of leeway)', async () => {
    await admitted(
      await mint({
        key: root.privateKey,
        header: { x5c: [root.der] },
        iss: ISSUER,
        aud: SERVICE,
        exp: -30,
        access: ALL,
      }),
      'exp 30 s ago',
    );
    await admitted(
      await mint({
        key: root.privateKey,
        header: { x5c: [root.der] },
        iss: ISSUER,
        aud: SERVICE,
        nbf: 30,
        access: ALL,
      }),
      'nbf in 30 s',
    );
  });

  it('refuses alg none, HMAC, expired, not-yet-valid, wrong-audience, wrong-issuer, tampered and unknown-key tokens', async () => {
    const good = { key: root.privateKey, header: { x5c: [root.der] }, iss: ISSUER, aud: SERVICE, access: ALL };
    const claims = { iss: ISSUER, aud: SERVICE, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300, access: ALL };
    await refused(unsignedToken({ alg: 'none', typ: 'JWT' }, claims), /alg "none"/, 'alg none');
    const hmacInput = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: libtrustKeyId(root.publicKey) })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const hmac = createHmac('sha256', root.publicKey.export({ type: 'spki', format: 'der' }))
      .update(hmacInput)
      .digest('base64url');
    await refused(`${hmacInput}.${hmac}`, /HMAC/, 'HS256 keyed with the public key');
    await refused(await mint({ ...good, exp: -120 }), /expired/, 'expired');
    await refused(await mint({ ...good, nbf: 120 }), /not valid before/, 'not yet valid');
    await refused(await mint({ ...good, aud: 'another-service' }), /audience/, 'wrong audience');
    await refused(await mint({ ...good, iss: 'someone-else' }), /issuer/, 'wrong issuer');
    await refused(await mint({ ...good, omit: ['exp'] }), /no expiry/, 'no exp');
    const [header, , signature] = (await mint(good)).split('.');
    const forged = Buffer.from(
      JSON.stringify({
        ...claims,
        sub: 'mallory',
        access: [
          { type: 'repository', name: 'acme/app', actions: ['*'] },
          { type: 'registry', name: 'catalog', actions: ['*'] },
        ],
      }),
    ).toString('base64url');
    await refused(`${header}.${forged}.${signature}`, /signature does not verify/, 'tampered claims');
    await refused(
      await mint({
        key: stranger.privateKey,
        header: { kid: libtrustKeyId(stranger.publicKey) },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      /unknown key/,
      'unknown kid',
    );
    await refused(
      await mint({ key: stranger.privateKey, header: { x5c: [stranger.der] }, iss: ISSUER, aud: SERVICE, access: ALL }),
      /does not lead/,
      'x5c of an untrusted CA',
    );
    await refused(
      await mint({ key: stranger.privateKey, header: { x5c: [root.der] }, iss: ISSUER, aud: SERVICE, access: ALL }),
      /signature/,
      'trusted x5c, other key',
    );
    await refused(
      await mint({
        key: stranger.privateKey,
        header: { jwk: await exportJWK(stranger.publicKey) },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      /not trusted/,
      'untrusted jwk',
    );
    await refused(
      await mint({ key: root.privateKey, iss: ISSUER, aud: SERVICE, access: ALL }),
      /names no signing key/,
      'no key reference',
    );
    const expiredLeaf = certify(leaf, 'Expired signer', intermediate, {
      ca: false,
      validFor: [-48 * 3_600_000, -24 * 3_600_000],
    });
    await refused(
      await mint({
        key: leaf.privateKey,
        header: { x5c: [expiredLeaf.der, intermediate.der] },
        iss: ISSUER,
        aud: SERVICE,
        access: ALL,
      }),
      /not valid now/,
      'expired certificate',
    );
    await refused('not-a-token', /malformed/, 'garbage');
  });

  it('answers a valid token lacking the scope with error="insufficient_scope" naming what is needed', async () => {
    const token = await mint({
      key: root.privateKey,
      header: { x5c: [root.der] },
      iss: ISSUER,
      aud: SERVICE,
      access: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }],
    });
    await admitted(token, 'pull is granted');
    const reply = await api('PUT', '/v2/acme/app/manifests/latest', {
      headers: { ...bearer(token), 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: '{}',
    });
    assert.equal(reply.status, 401);
    assert.equal(
      reply.header('www-authenticate'),
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:acme/app:pull,push",error="insufficient_scope"`,
    );
    assert.match(reply.json().errors[0].message, /does not grant repository:acme\/app:pull,push/);
    const other = await api('GET', '/v2/acme/other/tags/list', { headers: bearer(token) });
    assert.equal(other.status, 401);
    const catalog = await api('GET', '/v2/_catalog', { headers: bearer(token) });
    assert.equal(parseChallenge(catalog.header('www-authenticate'))?.params.scope, 'registry:catalog:*');
    const base = await api('GET', '/v2/', { headers: bearer(token) });
    assert.equal(base.status, 200, 'any valid token opens /v2/');
  });

  it('drains a refused streaming upload so the client reads the 401', async () => {
    const token = await mint({
      key: root.privateKey,
      header: { x5c: [root.der] },
      iss: ISSUER,
      aud: SERVICE,
      access: ALL,
    });
    const start = await api('POST', '/v2/acme/app/blobs/uploads/', { headers: bearer(token) });
    assert.equal(start.status, 202);
    const location = new URL(start.header('location')!, server.url);
    const { stream } = generatedStream(8 * 1024 * 1024, 7);
    const reply = await api('PATCH', location.pathname + location.search, {
      body: stream,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(reply.status, 401);
    assert.equal(parseChallenge(reply.header('www-authenticate'))?.params.scope, 'repository:acme/app:pull,push');
    const { stream: second } = generatedStream(2 * 1024 * 1024, 8);
    const put = await api(
      'PUT',
      `/v2/acme/app/blobs/uploads/?digest=sha256:${'b'.repeat(64)}`.replace('/uploads/?', '/uploads/x?'),
      { body: second },
    );
    assert.equal(put.status, 401);
    const status = await api('GET', location.pathname, { headers: bearer(token) });
    assert.equal(status.header('range'), '0-0', 'no byte of the refused PATCH was stored');
  });
});

/**
 * Berth's own token server, switched on by one setting (`berth.auth.htpasswd`): the signing key
 * and certificate it creates and keeps, the realm it derives, the GET flow exactly as users
 * script it with curl and jq, several scopes, partly allowed and anonymous scopes, refresh
 * tokens (GET offline_token and the OAuth2 POST grants), the catalog filtered per caller, the
 * admin permission, and credentials kept out of the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage } from '../helpers/content.js';
import { describeWithTools, findTool, run, tools } from '../helpers/tools.js';
import {
  basic,
  claimsOf,
  fetchToken,
  headerOf,
  parseChallenge,
  pushImageWith,
  withTokenFlow,
  writeHtpasswd,
} from './support.js';

const USERS = { admin: 'password', alice: 'alice-secret', bob: 'bob-secret', root: 'root-secret' };
const RULES = {
  groups: { admins: ['root'], 'team-a': ['alice'] },
  rules: [
    { groups: ['admins'], registry: ['catalog', 'admin'], repositories: ['**'], actions: ['*'] },
    { users: ['admin'], registry: ['catalog'], repositories: ['**'], actions: ['*'] },
    { groups: ['team-a'], repositories: ['team-a/*'], actions: ['pull', 'push'] },
    { users: ['*'], repositories: ['${user}/**'], actions: ['*'] },
    { anonymous: true, repositories: ['public/**'], actions: ['pull'] },
    { users: ['*'], registry: ['catalog'] },
  ],
};

/** Pushes an image as `root` (who may do everything) with a token from the token server. */
async function seed(server: TestBerth, name: string): Promise<void> {
  const { body } = await fetchToken(
    `${server.url}/auth/token`,
    { service: 'berth', scopes: [`repository:${name}:pull,push`] },
    ['root', USERS.root],
  );
  await pushImageWith(server.url, name, makeImage(), { Authorization: `Bearer ${body.token}` });
}

describe('the built-in token server', () => {
  let server: TestBerth;
  let root: string;
  let htpasswd: string;

  before(async () => {
    const folder = tempDir('berth-auth-server-');
    htpasswd = writeHtpasswd(folder, USERS);
    root = join(folder, 'data');
    server = await startBerth({ root, config: { berth: { auth: { htpasswd, ...RULES } } } });
    for (const name of ['nginx', 'team-a/app', 'team-b/app', 'alice/tools', 'public/base']) await seed(server, name);
  });
  after(() => server.close());

  it('creates a signing key and certificate in the data folder and signs with them', async () => {
    const keyPath = join(root, 'berth', 'auth', 'token-signing.key');
    const certificatePath = join(root, 'berth', 'auth', 'token-signing.crt');
    assert.ok(existsSync(keyPath) && existsSync(certificatePath));
    assert.equal(statSync(keyPath).mode & 0o077, 0, 'the private key is readable by its owner only');
    const { body } = await fetchToken(`${server.url}/auth/token`, { service: 'berth', scopes: [] }, [
      'alice',
      USERS.alice,
    ]);
    const header = headerOf(body.token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'JWT');
    assert.match(header.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const pem = readFileSync(certificatePath, 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
    assert.deepEqual(header.x5c, [pem]);
  });

  it('derives the realm from the request Host, or from http.host when set', async () => {
    const reply = await fetch(`${server.url}/v2/nginx/tags/list`);
    assert.equal(
      reply.headers.get('www-authenticate'),
      `Bearer realm="${server.url}/auth/token",service="berth",scope="repository:nginx:pull"`,
    );
    const other = await startBerth({
      config: { http: { host: 'https://berth.example.org' }, berth: { auth: { htpasswd } } },
    });
    try {
      const fixed = await fetch(`${other.url}/v2/x/tags/list`);
      assert.equal(
        parseChallenge(fixed.headers.get('www-authenticate'))?.params.realm,
        'https://berth.example.org/auth/token',
      );
    } finally {
      await other.close();
    }
  });

  it('believes X-Forwarded-Proto and -Host only from berth.trustedproxies', async () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' };
    const untrusted = await fetch(`${server.url}/v2/nginx/tags/list`, { headers: forwarded });
    assert.equal(parseChallenge(untrusted.headers.get('www-authenticate'))?.params.realm, `${server.url}/auth/token`);
    const behindProxy = await startBerth({ config: { berth: { auth: { htpasswd }, trustedproxies: ['127.0.0.1'] } } });
    try {
      const proxied = await fetch(`${behindProxy.url}/v2/nginx/tags/list`, { headers: forwarded });
      assert.equal(
        parseChallenge(proxied.headers.get('www-authenticate'))?.params.realm,
        'https://evil.example/auth/token',
      );
    } finally {
      await behindProxy.close();
    }
  });

  it('grants several scopes at once, each the intersection of what is asked and allowed', async () => {
    const { status, body } = await fetchToken(
      `${server.url}/auth/token`,
      {
        service: 'berth',
        account: 'alice',
        scopes: [
          'repository:team-a/app:pull,push,delete',
          'repository:team-b/app:pull repository:alice/tools:*',
          'repository:public/base:pull,push',
        ],
      },
      ['alice', USERS.alice],
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token']);
    assert.equal(body.access_token, body.token);
    assert.equal(body.expires_in, 300);
    assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
    const claims = claimsOf(body.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'berth');
    assert.equal(claims.iss, 'berth');
    assert.equal(claims.exp - claims.iat, 300);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'alice/tools', actions: ['*'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
  });

  it('answers a fully denied scope with a token that grants nothing, and the registry then says insufficient_scope', async () => {
    const { status, body } = await fetchToken(
      `${server.url}/auth/token`,
      { service: 'berth', scopes: ['repository:team-b/app:pull'] },
      ['bob', USERS.bob],
    );
    assert.equal(status, 200);
    assert.deepEqual(claimsOf(body.token).access, []);
    const reply = await fetch(`${server.url}/v2/team-b/app/tags/list`, {
      headers: { Authorization: `Bearer ${body.token}` },
    });
    assert.equal(reply.status, 401);
    assert.equal(parseChallenge(reply.headers.get('www-authenticate'))?.params.error, 'insufficient_scope');
  });

  it('issues anonymous tokens that carry what anonymous rules allow', async () => {
    const { status, body } = await fetchToken(`${server.url}/auth/token`, {
      service: 'berth',
      scopes: ['repository:public/base:pull,push', 'repository:nginx:pull'],
      offline: true,
    });
    assert.equal(status, 200);
    assert.equal(claimsOf(body.token).sub, '');
    assert.deepEqual(claimsOf(body.token).access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    assert.equal(body.refresh_token, undefined, 'no refresh token for nobody');
    const pulled = await withTokenFlow(`${server.url}/v2/public/base/manifests/latest`);
    assert.equal(pulled.status, 200);
    const denied = await withTokenFlow(`${server.url}/v2/nginx/manifests/latest`);
    assert.equal(denied.status, 401);
  });

  it('refuses bad credentials with 401 and a Basic challenge, and malformed requests with 400', async () => {
    const wrong = await fetchToken(
      `${server.url}/auth/token`,
      { service: 'berth', scopes: ['repository:nginx:pull'] },
      ['alice', 'wrong'],
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.errors[0].code, 'UNAUTHORIZED');
    const unknown = await fetchToken(`${server.url}/auth/token`, { service: 'berth', scopes: [] }, ['nobody', 'x']);
    assert.equal(unknown.status, 401);
    const response = await fetch(`${server.url}/auth/token?service=berth`, {
      headers: { Authorization: basic('alice', 'wrong') },
    });
    assert.equal(response.headers.get('www-authenticate'), 'Basic realm="Berth"');
    assert.equal(
      (await fetchToken(`${server.url}/auth/token`, { service: 'elsewhere', scopes: [] }, ['alice', USERS.alice]))
        .status,
      400,
    );
    assert.equal(
      (await fetchToken(`${server.url}/auth/token`, { service: 'berth', scopes: ['garbage'] }, ['alice', USERS.alice]))
        .status,
      400,
    );
    assert.equal(
      (
        await fetchToken(`${server.url}/auth/token`, { service: 'berth', scopes: [], account: 'bob' }, [
          'alice',
          USERS.alice,
        ])
      ).status,
      400,
    );
  });

  it('gives refresh tokens with offline_token=true, exchanged by the OAuth2 POST form', async () => {
    const { body } = await fetchToken(`${server.url}/auth/token`, { service: 'berth', scopes: [], offline: true }, [
      'alice',
      USERS.alice,
    ]);
    assert.equal(typeof body.refresh_token, 'string');
    const post = (form: Record<string, string>) =>
      fetch(`${server.url}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      });
    const refreshed = await post({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token,
      service: 'berth',
      client_id: 'test',
      scope: 'repository:team-a/app:pull,push repository:team-b/app:pull',
    });
    assert.equal(refreshed.status, 200);
    const json = (await refreshed.json()) as Record<string, any>;
    assert.equal(json.scope, 'repository:team-a/app:pull,push');
    assert.equal(json.refresh_token, body.refresh_token);
    assert.equal(claimsOf(json.access_token).sub, 'alice');
    const wrongService = await post({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token,
      service: 'berth2',
    });
    assert.equal(wrongService.status, 400);
    const forged = await post({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token.replace(/.$/, (c: string) => (c === 'A' ? 'B' : 'A')),
      service: 'berth',
    });
    assert.equal(forged.status, 400);
    assert.equal(((await forged.json()) as Record<string, string>).error, 'invalid_grant');
    const asRegistryToken = await fetch(`${server.url}/v2/`, {
      headers: { Authorization: `Bearer ${body.refresh_token}` },
    });
    assert.equal(asRegistryToken.status, 401, 'a refresh token is not an access token');

    const password = await post({
      grant_type: 'password',
      username: 'bob',
      password: USERS.bob,
      service: 'berth',
      client_id: 'test',
      access_type: 'offline',
      scope: 'repository:bob/x:push',
    });
    assert.equal(password.status, 200);
    const passwordJson = (await password.json()) as Record<string, any>;
    assert.equal(passwordJson.scope, 'repository:bob/x:push');
    assert.equal(typeof passwordJson.refresh_token, 'string');
    const badPassword = await post({ grant_type: 'password', username: 'bob', password: 'nope', service: 'berth' });
    assert.equal(badPassword.status, 400);
    assert.equal(((await badPassword.json()) as Record<string, string>).error, 'invalid_grant');
    const unsupported = await post({ grant_type: 'authorization_code', service: 'berth' });
    assert.equal(((await unsupported.json()) as Record<string, string>).error, 'unsupported_grant_type');
  });

  it('revokes refresh tokens when the user changes password', async () => {
    const folder = tempDir('berth-auth-revoke-');
    const file = writeHtpasswd(folder, { carol: 'one' });
    const other = await startBerth({ config: { berth: { auth: { htpasswd: file } } } });
    try {
      const { body } = await fetchToken(`${other.url}/auth/token`, { service: 'berth', scopes: [], offline: true }, [
        'carol',
        'one',
      ]);
      const refresh = () =>
        fetch(`${other.url}/auth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: body.refresh_token,
            service: 'berth',
          }),
        });
      assert.equal((await refresh()).status, 200);
      writeHtpasswd(folder, { carol: 'two' });
      const after = await refresh();
      assert.equal(after.status, 400);
      assert.match(((await after.json()) as { error_description: string }).error_description, /revoked/);
    } finally {
      await other.close();
    }
  });

  it('lists in the catalog only the repositories the caller may pull', async () => {
    const catalogOf = async (credentials?: [string, string]) => {
      const response = await withTokenFlow(`${server.url}/v2/_catalog`, {}, credentials);
      return response.status === 200
        ? ((await response.json()) as { repositories: string[] }).repositories
        : response.status;
    };
    assert.deepEqual(await catalogOf(['root', USERS.root]), [
      'alice/tools',
      'nginx',
      'public/base',
      'team-a/app',
      'team-b/app',
    ]);
    assert.deepEqual(await catalogOf(['alice', USERS.alice]), ['alice/tools', 'public/base', 'team-a/app']);
    assert.deepEqual(await catalogOf(['bob', USERS.bob]), ['public/base']);
    assert.equal(await catalogOf(), 401, 'anonymous callers get no catalog scope here');
    const paged = await withTokenFlow(`${server.url}/v2/_catalog?n=2`, {}, ['alice', USERS.alice]);
    assert.deepEqual(await paged.json(), { repositories: ['alice/tools', 'public/base'] });
    assert.match(paged.headers.get('link') ?? '', /last=public%2Fbase/);
  });

  it('requires registry:admin:* for /_berth/admin/* (garbage collection included)', async () => {
    for (const path of ['/_berth/admin/gc', '/_berth/admin/anything-else']) {
      const plain = await fetch(`${server.url}${path}`);
      assert.equal(plain.status, 401, path);
      assert.equal(parseChallenge(plain.headers.get('www-authenticate'))?.params.scope, 'registry:admin:*');
      const asAlice = await withTokenFlow(`${server.url}${path}`, {}, ['alice', USERS.alice]);
      assert.equal(asAlice.status, 401, `${path} as alice`);
      const asRoot = await withTokenFlow(`${server.url}${path}`, {}, ['root', USERS.root]);
      assert.ok(asRoot.status !== 401 && asRoot.status !== 403, `${path}: an admin gets past the guard`);
    }
    const state = await withTokenFlow(`${server.url}/_berth/admin/gc`, {}, ['root', USERS.root]);
    assert.equal(state.status, 200);
    const run = await withTokenFlow(`${server.url}/_berth/admin/gc?dryrun=true`, { method: 'POST' }, [
      'alice',
      USERS.alice,
    ]);
    assert.equal(run.status, 401, 'a non-admin cannot start garbage collection');
  });

  it('keeps its key across restarts: tokens issued before a restart still verify', async () => {
    const { body } = await fetchToken(
      `${server.url}/auth/token`,
      { service: 'berth', scopes: ['repository:nginx:pull'] },
      ['admin', USERS.admin],
    );
    const again = await startBerth({ root, config: { berth: { auth: { htpasswd, ...RULES } } } });
    try {
      const reply = await fetch(`${again.url}/v2/nginx/tags/list`, {
        headers: { Authorization: `Bearer ${body.token}` },
      });
      assert.equal(reply.status, 200);
    } finally {
      await again.close({ keepRoot: true });
    }
  });
});

describe('credentials in the log', () => {
  it('never writes passwords, Authorization headers or tokens', async () => {
    const folder = tempDir('berth-auth-log-');
    const htpasswd = writeHtpasswd(folder, { dave: 'dave-very-secret' });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const { config } = validateConfig({
      storage: { filesystem: { rootdirectory: join(folder, 'data') } },
      http: { addr: '127.0.0.1:0' },
      log: { level: 'debug' },
      berth: { auth: { htpasswd } },
    });
    const berth = createBerth(config, pino({ level: 'debug' }, sink));
    const { port } = await berth.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${port}`;
    try {
      const { body } = await fetchToken(
        `${url}/auth/token`,
        { service: 'berth', scopes: ['repository:dave/x:pull'], offline: true, account: 'dave' },
        ['dave', 'dave-very-secret'],
      );
      await fetch(`${url}/v2/dave/x/tags/list`, { headers: { Authorization: `Bearer ${body.token}` } });
      await fetch(`${url}/v2/dave/x/tags/list`, { headers: { Authorization: 'Bearer not.a-valid.token' } });
      await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          username: 'dave',
          password: 'dave-very-secret',
          service: 'berth',
        }),
      });
      await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token, service: 'berth' }),
      });
      const log = lines.join('');
      assert.ok(log.includes('/v2/dave/x/tags/list'), 'requests are logged');
      for (const secret of [
        'dave-very-secret',
        Buffer.from('dave:dave-very-secret').toString('base64'),
        body.token,
        body.token.split('.')[2],
        body.refresh_token,
        'not.a-valid.token',
      ]) {
        assert.ok(!log.includes(secret), `the log holds ${secret.slice(0, 12)}…`);
      }
    } finally {
      await berth.close();
    }
  });
});

describeWithTools(
  'the token flow as users script it',
  [tools.bash(), tools.curl(), findTool('jq', 'jq', ['jq', '--version'])],
  () => {
    let server: TestBerth;
    before(async () => {
      const folder = tempDir('berth-auth-script-');
      const htpasswd = writeHtpasswd(folder, { admin: 'password' });
      server = await startBerth({ config: { berth: { auth: { htpasswd } } } });
      const { body } = await fetchToken(
        `${server.url}/auth/token`,
        { service: 'berth', scopes: ['repository:nginx:pull,push'] },
        ['admin', 'password'],
      );
      await pushImageWith(server.url, 'nginx', makeImage(), { Authorization: `Bearer ${body.token}` });
    });
    after(() => server.close());

    it('runs the token flow verbatim as users script it (curl, grep, cut, jq)', async () => {
      const script = `
set -e
CHALLENGE=$(curl -i ${server.url}/v2/nginx/manifests/latest 2>&1 | grep -i www-authenticate)
REALM=$(echo $CHALLENGE | grep -o 'realm="[^"]*"' | cut -d '"' -f 2)
SERVICE=$(echo $CHALLENGE | grep -o 'service="[^"]*"' | cut -d '"' -f 2)
SCOPE=$(echo $CHALLENGE | grep -o 'scope="[^"]*"' | cut -d '"' -f 2)
TOKEN=$(curl -s -u "admin:password" "\${REALM}?service=\${SERVICE}&scope=\${SCOPE}" | jq -r .token)
curl -i -H "Authorization: Bearer \${TOKEN}" ${server.url}/v2/nginx/manifests/latest
`;
      const result = await run('bash', ['-c', script], { timeout: 60_000 });
      assert.match(result.stdout, /^HTTP\/1\.1 200 OK/m, result.stdout + result.stderr);
      assert.match(result.stdout, /"schemaVersion":2/);
    });
  },
);

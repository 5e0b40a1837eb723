/**
 * htpasswd: the `berth htpasswd` command (add, passwd, rm), start-up refusing hash kinds other
 * than bcrypt and other broken auth settings, and `auth.htpasswd` as HTTP Basic on the registry
 * with access rules (401 with a Basic challenge, 403 for a signed-in user the rules deny,
 * anonymous access where a rule allows it), picking up file changes without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { createBerth } from '../../src/app.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { client, type Api } from '../helpers/http.js';
import { randomBlob } from '../helpers/content.js';
import { basic, berthCli as berth, writeHtpasswd } from './support.js';

const entries = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/:(.*)/s).slice(0, 2)),
  );

describe('berth htpasswd', () => {
  it('adds, changes and removes users, keeping comments and other entries', async () => {
    const file = join(tempDir('berth-htpasswd-'), 'users');
    let result = await berth(['htpasswd', 'add', file, 'alice', '--cost', '4'], 'first\n');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(entries(file).alice, /^\$2y\$04\$/);
    assert.ok(bcrypt.compareSync('first', entries(file).alice));
    writeFileSync(file, `# team users\n${readFileSync(file, 'utf8')}`);
    assert.equal((await berth(['htpasswd', 'add', file, 'bob', '--cost', '4'], 'bobs\n')).code, 0);
    result = await berth(['htpasswd', 'add', file, 'alice', '--cost', '4'], 'again\n');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /already exists/);
    assert.equal((await berth(['htpasswd', 'passwd', file, 'alice', '--cost', '4'], 'second\n')).code, 0);
    assert.ok(bcrypt.compareSync('second', entries(file).alice));
    assert.equal((await berth(['htpasswd', 'rm', file, 'bob'])).code, 0);
    assert.deepEqual(Object.keys(entries(file)), ['alice']);
    assert.ok(readFileSync(file, 'utf8').startsWith('# team users\n'));
    assert.match((await berth(['htpasswd', 'rm', file, 'bob'])).stderr, /no user "bob"/);
    assert.match((await berth(['htpasswd', 'passwd', file, 'carol'])).stderr, /no user "carol"/);
    assert.match((await berth(['htpasswd', 'add', file, 'bad:name'], 'x\n')).stderr, /cannot be a user name/);
    assert.match((await berth(['htpasswd', 'add', file, 'dave'])).stderr, /no password/);
    assert.equal((await berth(['htpasswd', 'frob', file, 'dave'])).code, 1);
  });

  it('replaces an entry of another hash kind with bcrypt', async () => {
    const file = join(tempDir('berth-htpasswd-'), 'users');
    writeFileSync(file, 'old:$apr1$abcdefgh$0123456789abcdefghijkl\n');
    assert.equal((await berth(['htpasswd', 'passwd', file, 'old', '--cost', '4'], 'new\n')).code, 0);
    assert.ok(bcrypt.compareSync('new', entries(file).old));
  });
});

describe('start-up checks', () => {
  const folder = tempDir('berth-auth-startup-');
  const start = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const { config } = validateConfig({
      storage: { filesystem: { rootdirectory: join(folder, 'data') } },
      auth,
      ...extra,
    });
    return createBerth(config);
  };

  it('refuses hash kinds other than bcrypt, naming the file, line and user', () => {
    const file = join(folder, 'mixed');
    writeFileSync(file, `ok:${bcrypt.hashSync('x', 4)}\n# comment\nlegacy:$apr1$abcdefgh$0123456789abcdefghijkl\n`);
    assert.throws(
      () => start({ htpasswd: { realm: 'r', path: file } }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          new RegExp(
            `${file}:3: user "legacy" has a Apache MD5 \\(\\$apr1\\$\\) password hash; only bcrypt is supported`,
          ),
        );
        return true;
      },
    );
    for (const [hash, kind] of [
      ['{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'SHA-1'],
      ['plain-password', 'plain text'],
      ['abJnggxhB/yWI', 'DES crypt'],
    ]) {
      writeFileSync(file, `user:${hash}\n`);
      assert.throws(() => start({ htpasswd: { realm: 'r', path: file } }), new RegExp(kind!));
    }
  });

  it('refuses a missing file, auth.silly, an unknown group and a token setup with nothing to trust', () => {
    assert.throws(
      () => start({ htpasswd: { realm: 'r', path: join(folder, 'absent') } }),
      /cannot read htpasswd file .*berth htpasswd add/,
    );
    assert.throws(
      () =>
        validateConfig({
          storage: { filesystem: { rootdirectory: folder } },
          auth: { silly: { realm: 'a', service: 'b' } },
        }),
      /auth.silly: not supported/,
    );
    const file = writeHtpasswd(folder, { a: 'a' });
    assert.throws(
      () =>
        start(
          {},
          {
            berth: {
              auth: { htpasswd: file, rules: [{ groups: ['ghosts'], repositories: ['**'], actions: ['pull'] }] },
            },
          },
        ),
      /group "ghosts" is not defined/,
    );
    assert.throws(
      () => start({ token: { realm: 'https://x/token', service: 's', issuer: 'i' } }),
      /rootcertbundle or jwks/,
    );
    assert.throws(() => start({ token: {} }), /needs users/);
  });

  it('from the CLI: exits 2 with the message', async () => {
    const file = join(folder, 'md5');
    writeFileSync(file, 'legacy:$apr1$abcdefgh$0123456789abcdefghijkl\n');
    const configPath = join(folder, 'config.yml');
    writeFileSync(
      configPath,
      stringify({
        version: 0.1,
        storage: { filesystem: { rootdirectory: join(folder, 'data') } },
        http: { addr: '127.0.0.1:0' },
        auth: { htpasswd: { realm: 'r', path: file } },
      }),
    );
    const result = await berth(['serve', configPath]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /only bcrypt is supported/);
  });
});

describe('HTTP Basic with auth.htpasswd', () => {
  let server: TestBerth;
  let api: Api;
  let file: string;
  before(async () => {
    const folder = tempDir('berth-auth-basic-');
    file = writeHtpasswd(folder, { alice: 'alice-pw', bob: 'bob-pw' });
    server = await startBerth({
      config: {
        auth: { htpasswd: { realm: 'basic-realm', path: file } },
        berth: {
          auth: {
            rules: [
              { users: ['alice'], repositories: ['team-a/*'], actions: ['pull', 'push'] },
              { users: ['bob'], repositories: ['bob/*'], actions: ['pull', 'push'] },
              { anonymous: true, repositories: ['public/**'], actions: ['pull'] },
              { users: ['*'], registry: ['catalog'] },
            ],
          },
        },
      },
    });
    api = client(server.url);
  });
  after(() => server.close());

  it('challenges with Basic, admits good credentials and refuses bad ones', async () => {
    const none = await api('POST', '/v2/team-a/app/blobs/uploads/');
    assert.equal(none.status, 401);
    assert.equal(none.header('www-authenticate'), 'Basic realm="basic-realm"');
    const good = await api('POST', '/v2/team-a/app/blobs/uploads/', {
      headers: { Authorization: basic('alice', 'alice-pw') },
    });
    assert.equal(good.status, 202);
    const wrong = await api('POST', '/v2/team-a/app/blobs/uploads/', {
      headers: { Authorization: basic('alice', 'nope') },
    });
    assert.equal(wrong.status, 401);
    assert.match(wrong.json().errors[0].message, /invalid username or password/);
    const malformed = await api('GET', '/v2/', { headers: { Authorization: 'Basic !!!' } });
    assert.equal(malformed.status, 401);
  });

  it('answers 403 DENIED to a signed-in user the rules deny, 401 to an anonymous one', async () => {
    const denied = await api('POST', '/v2/team-a/app/blobs/uploads/', {
      headers: { Authorization: basic('bob', 'bob-pw') },
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.json().errors[0].code, 'DENIED');
    const anonymousPush = await api('POST', '/v2/public/x/blobs/uploads/');
    assert.equal(anonymousPush.status, 401);
  });

  it('lets anonymous callers do what anonymous rules allow, /v2/ included', async () => {
    assert.equal(
      (await api('GET', '/v2/public/x/tags/list')).status,
      404,
      'past the guard: the repository does not exist',
    );
    assert.equal((await api('GET', '/v2/')).status, 200);
    assert.equal((await api('GET', '/v2/_catalog')).status, 401);
    assert.equal(
      (await api('GET', '/v2/_catalog', { headers: { Authorization: basic('bob', 'bob-pw') } })).status,
      200,
    );
  });

  it('mounts only from a repository the caller may pull: no mount by digest alone', async () => {
    const alice = { Authorization: basic('alice', 'alice-pw') };
    const bob = { Authorization: basic('bob', 'bob-pw') };
    const secret = randomBlob(300);
    const start = await api('POST', '/v2/team-a/secret/blobs/uploads/', { headers: alice });
    const location = new URL(start.header('location')!, server.url);
    location.searchParams.set('digest', secret.digest);
    assert.equal(
      (await api('PUT', `${location.pathname}${location.search}`, { body: secret.content, headers: alice })).status,
      201,
    );

    // Without `from`, the digest alone would reach team-a's blob: Berth starts an upload instead.
    const guess = await api('POST', `/v2/bob/app/blobs/uploads/?mount=${secret.digest}`, { headers: bob });
    assert.equal(guess.status, 202);
    assert.ok(guess.header('docker-upload-uuid'));
    assert.equal((await api('GET', `/v2/bob/app/blobs/${secret.digest}`, { headers: bob })).status, 404);
    // Naming the source needs pull on it.
    const named = await api('POST', `/v2/bob/app/blobs/uploads/?mount=${secret.digest}&from=team-a/secret`, {
      headers: bob,
    });
    assert.equal(named.status, 403);
    // A caller who may read the source mounts it.
    const mounted = await api('POST', `/v2/team-a/copy/blobs/uploads/?mount=${secret.digest}&from=team-a/secret`, {
      headers: alice,
    });
    assert.equal(mounted.status, 201);
    assert.deepEqual(
      (await api('GET', `/v2/team-a/copy/blobs/${secret.digest}`, { headers: alice })).body,
      secret.content,
    );
  });

  it('sees users added with berth htpasswd without a restart', async () => {
    const before = await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'carol-pw') } });
    assert.equal(before.status, 401);
    const result = await berth(['htpasswd', 'add', file, 'carol', '--cost', '4'], 'carol-pw\n');
    assert.equal(result.code, 0, result.stderr);
    const after = await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'carol-pw') } });
    assert.equal(after.status, 200);
    assert.equal((await berth(['htpasswd', 'rm', file, 'carol'])).code, 0);
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'carol-pw') } })).status, 401);
  });
});

describe('auth stays off unless configured', () => {
  it('serves without credentials and without a token endpoint', async () => {
    const server = await startBerth();
    try {
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
      assert.equal((await fetch(`${server.url}/v2/_catalog`)).status, 200);
      assert.equal((await fetch(`${server.url}/auth/token?service=berth`)).status, 404);
    } finally {
      await server.close();
    }
  });
});

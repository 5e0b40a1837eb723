/**
 * Errors that say what is wrong: a registry named where a repository belongs, and a refusal
 * that is about a missing right rather than about logging in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseImageReference } from '../../src/client/reference.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { writeHtpasswd } from '../auth/support.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';

describe('a registry without a repository', () => {
  it('berth tags localhost:5000 says the repository is missing, not docker.io/library/localhost', async () => {
    const result = expectCode(await berthInProcess(['tags', 'localhost:5000']), 2, 'tags localhost:5000');
    assert.match(result.stderr, /"localhost:5000" names a registry but no repository/);
    assert.match(result.stderr, /localhost:5000\/team\/app/);
    assert.doesNotMatch(result.stderr, /library\/localhost/);
  });

  it('refuses host:port, IP:port and localhost alone; Docker Hub names with tags stay Docker Hub', () => {
    for (const text of ['localhost', 'localhost:5000', '127.0.0.1:5000', 'registry.example.com:443', '[::1]:5000'])
      assert.throws(
        () => parseImageReference(text, { allowTagless: true }),
        /names a registry but no repository/,
        text,
      );
    assert.deepEqual(parseImageReference('redis:7'), { registry: 'docker.io', repository: 'library/redis', tag: '7' });
    assert.equal(parseImageReference('my.app', { allowTagless: true }).repository, 'library/my.app');
  });
});

/**
 * A refusal says what would help. Against a real Berth with htpasswd users and access rules:
 * alice may pull team/** and nothing else, bob may do everything. Over HTTP Basic the registry
 * answers alice's delete with 403 DENIED; through Berth's token server she gets a token without
 * the right, and the registry answers 401 with `error="insufficient_scope"`. Either way she is
 * told she is signed in as alice and lacks the right, not to log in.
 */
const ALICE = { username: 'alice', password: 'alice-password-1' };
const BOB = { username: 'bob', password: 'bob-password-2' };
const RULES = [
  { users: ['alice'], repositories: ['team/**'], actions: ['pull'] },
  { users: ['bob'], repositories: ['**'], actions: ['*'] },
  { users: ['*'], registry: ['catalog'] },
];
const schemes = [
  {
    name: 'HTTP Basic (auth.htpasswd)',
    config: (htpasswd: string) => ({
      auth: { htpasswd: { realm: 'berth', path: htpasswd } },
      berth: { auth: { rules: RULES } },
    }),
  },
  {
    name: "Bearer tokens of Berth's token server (berth.auth.htpasswd)",
    config: (htpasswd: string) => ({ berth: { auth: { htpasswd, rules: RULES } } }),
  },
];

for (const scheme of schemes) {
  describe(`refusals over ${scheme.name}`, () => {
    const folders = tempFolders();
    let server: TestBerth;
    let authfile: string;
    const as = (user: { username: string; password: string } | undefined, ...args: string[]) => {
      const auths = user
        ? { [server.host]: { auth: Buffer.from(`${user.username}:${user.password}`).toString('base64') } }
        : {};
      writeFileSync(authfile, JSON.stringify({ auths }));
      return berthInProcess([...args, '--authfile', authfile]);
    };

    before(async () => {
      const folder = folders.make('berth-hints-');
      authfile = join(folder, 'config.json');
      const htpasswd = writeHtpasswd(folder, { [ALICE.username]: ALICE.password, [BOB.username]: BOB.password });
      server = await startBerth({ config: scheme.config(htpasswd) });
      const bob = new RegistryClient(server.host, { credentials: BOB });
      try {
        await pushBuiltImage(bob, 'team/app', 'v1', buildImage());
        await pushBuiltImage(bob, 'other/app', 'v1', buildImage());
      } finally {
        bob.close();
      }
    });
    after(async () => {
      await server?.close();
      await folders.removeAll();
    });

    it('tells a signed-in user which right is missing, not to log in', async () => {
      const removed = expectCode(await as(ALICE, 'rm', `${server.host}/team/app:v1`), 4, 'alice rm');
      assert.match(removed.stderr, /hint: you are signed in as "alice", without the right to delete on team\/app/);
      assert.doesNotMatch(removed.stderr, /berth login/);
      // A HEAD has no body to name the right: the request's own scope does.
      const digest = expectCode(await as(ALICE, 'digest', `${server.host}/other/app:v1`), 4, 'alice digest');
      assert.match(digest.stderr, /hint: you are signed in as "alice", without the right to pull on other\/app/);
      assert.doesNotMatch(digest.stderr, /berth login/);
      // What she may do still works, and bob's rights are his.
      expectCode(await as(ALICE, 'tags', `${server.host}/team/app`), 0, 'alice tags');
      expectCode(await as(BOB, 'rm', `${server.host}/team/app:v1`), 0, 'bob rm');
    });

    it('tells a wrong password to check it, and an anonymous caller to log in', async () => {
      const wrong = expectCode(
        await as({ ...ALICE, password: 'not-it' }, 'tags', `${server.host}/team/app`),
        4,
        'wrong password',
      );
      assert.match(wrong.stderr, /refused the credentials of "alice"/);
      assert.match(wrong.stderr, /hint: .*check the password, then log in again/);
      const anonymous = expectCode(await as(undefined, 'tags', `${server.host}/team/app`), 4, 'anonymous');
      assert.match(anonymous.stderr, new RegExp(`hint: .*log in .*berth login ${server.host}`));
    });
  });
}

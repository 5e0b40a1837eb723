/**
 * User names and `${user}` patterns: a user name is literal text in a pattern, whatever it holds.
 * Names with `/`, `*`, `:`, whitespace or control characters are refused by `berth htpasswd add`
 * and, in a file written by other means, reported at start-up (file and line) and left out, so
 * such a user never signs in and never reaches another namespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { pino } from 'pino';
import { compilePattern } from '../../src/api/pattern.js';
import { HtpasswdUsers } from '../../src/auth/htpasswd/users.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { client, type Api } from '../helpers/http.js';
import { basic, berthCli as berth, writeHtpasswd } from './support.js';

/** Users whose names the old patterns read as regular-expression syntax or as more path. */
const HOSTILE = { 'a/*': 'pw-a', 'b*b': 'pw-b', 'bob/x': 'pw-bob' };

describe('${user} in repository patterns', () => {
  it("puts the caller's name in as literal text, whatever characters it holds", () => {
    const personal = compilePattern('${user}/**');
    for (const user of ['a.b', 'a+b', 'a?b', 'a{2}', 'x$', '[ab]', 'a|b', 'a\\b', '(a)', '${user}', 'a^b']) {
      assert.ok(personal.matches(`${user}/app`, user), `${user} reaches its own namespace`);
    }
    assert.ok(!personal.matches('aab/app', 'a+b'));
    assert.ok(!personal.matches('a/app', 'a?b'));
    assert.ok(!personal.matches('aa/app', 'a{2}'));
    assert.ok(!personal.matches('b/app', '[ab]'));
    assert.ok(!personal.matches('b/app', 'a|b'));
    assert.ok(!personal.matches('anything/app', '${user}'));
  });

  it('never matches a name with "/", "*", ":", whitespace or control characters', () => {
    const personal = compilePattern('${user}/**');
    const own = compilePattern('${user}');
    assert.ok(!personal.matches('a/x', 'a/*'), 'a/* does not reach a/**');
    assert.ok(!personal.matches('a/*/x', 'a/*'));
    assert.ok(!personal.matches('bbb/x', 'b*b'), 'b*b does not reach bbb/…');
    assert.ok(!personal.matches('b*b/x', 'b*b'));
    assert.ok(!personal.matches('bob/x/y', 'bob/x'), 'bob/x does not reach bob/x/…');
    assert.ok(!own.matches('bob/x', 'bob/x'));
    for (const user of ['a:b', 'a b', 'a\tb', 'a\u0000b', 'a\nb'])
      assert.ok(!own.matches(user, user), JSON.stringify(user));
  });
});

describe('hostile user names in the htpasswd file', () => {
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-user-names-');
    const path = writeHtpasswd(folder, { ...HOSTILE, alice: 'pw-alice' });
    server = await startBerth({
      config: {
        auth: { htpasswd: { path } },
        berth: { auth: { rules: [{ users: ['*'], repositories: ['${user}/**'], actions: ['*'] }] } },
      },
    });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const startUpload = (name: string, user: string, password: string) =>
    api('POST', `/v2/${name}/blobs/uploads/`, { headers: { Authorization: basic(user, password) } });

  it('lets no such user push anywhere: not into a/**, bbb/… or bob/x/…', async () => {
    for (const [user, password, name] of [
      ['a/*', 'pw-a', 'a/x'],
      ['a/*', 'pw-a', 'a/b/c'],
      ['b*b', 'pw-b', 'bbb/x'],
      ['b*b', 'pw-b', 'b/x'],
      ['bob/x', 'pw-bob', 'bob/x/y'],
    ] as const) {
      const reply = await startUpload(name, user, password);
      assert.equal(reply.status, 401, `${user} → ${name}: ${reply.text()}`);
    }
  });

  it('keeps the other users working', async () => {
    assert.equal((await startUpload('alice/app', 'alice', 'pw-alice')).status, 202);
    assert.equal((await startUpload('bob/app', 'alice', 'pw-alice')).status, 403);
  });

  it('reports each such entry at start-up with its file and line', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).trim().split('\n'));
        done();
      },
    });
    const path = join(folder, 'htpasswd');
    const users = new HtpasswdUsers(path, pino({ level: 'info' }, sink));
    const errors = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 50);
    assert.deepEqual(
      errors.map((entry) => entry.msg.split(';')[0]),
      [
        `${path}:1: user "a/*" contains "/"`,
        `${path}:2: user "b*b" contains "*"`,
        `${path}:3: user "bob/x" contains "/"`,
      ],
    );
    assert.ok(users.has('alice'));
    assert.ok(!users.has('a/*') && !users.has('b*b') && !users.has('bob/x'));
    assert.equal(await users.verify('b*b', 'pw-b'), false);
  });
});

describe('berth htpasswd add', () => {
  it('refuses user names with "/", "*", ":", whitespace or control characters; rm still removes such an entry', async () => {
    const folder = tempDir('berth-user-names-cli-');
    try {
      const file = join(folder, 'users');
      for (const user of ['a/*', 'b*b', 'bob/x', 'a:b', 'a b', 'tab\there', 'bell\u0007']) {
        const result = await berth(['htpasswd', 'add', file, user, '--cost', '4'], 'secret\n');
        assert.equal(result.code, 1, `${JSON.stringify(user)}: ${result.stderr}`);
        assert.match(result.stderr, /cannot be a user name/);
      }
      writeFileSync(file, `b*b:${bcrypt.hashSync('x', 4)}\n`);
      assert.equal((await berth(['htpasswd', 'rm', file, 'b*b'])).code, 0);
      assert.equal(readFileSync(file, 'utf8').trim(), '');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

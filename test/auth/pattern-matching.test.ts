/**
 * Repository patterns are matched component by component, without a backtracking regular
 * expression: a user named `a*a*…*c`, a pattern full of wildcards and a long name of `a`s are
 * answered at once, where a regular expression built from them took minutes and froze the whole
 * server. The token server also refuses scope names outside the repository grammar and its
 * length limit, so nothing else reaches the patterns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { compilePattern } from '../../src/api/pattern.js';
import { RuleError, AccessPolicy } from '../../src/auth/rules.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { client, type Api } from '../helpers/http.js';
import { basic, writeHtpasswd } from './support.js';

const STARRY_USER = `${'a*'.repeat(24)}c`;
const STARRY_PATTERN = `${'*a'.repeat(12)}*c`;

/** What the patterns meant before, as a regular expression (only for small inputs: it backtracks). */
function reference(pattern: string, name: string, user: string): boolean {
  const quote = (text: string) => text.replace(/[.*+?^$()[\]{}|\\/]/g, '\\$&');
  const source = pattern
    .split(/(\*\*|\*|\$\{user\})/)
    .filter((part) => part !== '')
    .map((part) => (part === '**' ? '.+' : part === '*' ? '[^/]+' : part === '${user}' ? quote(user) : quote(part)))
    .join('');
  return new RegExp(`^${source}$`).test(name);
}

describe('matching repository patterns', () => {
  it('means what the documented patterns meant: * one component or part of one, ** one or more components', () => {
    const component = fc
      .array(fc.constantFrom('a', 'b', '*', '${user}'), { minLength: 1, maxLength: 3 })
      .map((parts) => parts.join(''));
    const pattern = fc
      .array(fc.oneof(component, fc.constant('**')), { minLength: 1, maxLength: 4 })
      .map((parts) => parts.join('/'))
      .filter((text) => !/\*\*\*|[^/]\*\*|\*\*[^/]/.test(text));
    const name = fc
      .array(fc.stringMatching(/^[ab]{1,4}$/), { minLength: 1, maxLength: 5 })
      .map((parts) => parts.join('/'));
    const user = fc.stringMatching(/^[ab]{1,3}$/);
    fc.assert(
      fc.property(pattern, name, user, (p, n, u) => compilePattern(p).matches(n, u) === reference(p, n, u)),
      { numRuns: 3000 },
    );
  });

  it('answers patterns and names built to make a backtracking matcher take exponential time', () => {
    const long = 'a'.repeat(255);
    assert.equal(compilePattern(STARRY_PATTERN).matches(long, undefined), false);
    assert.equal(compilePattern(`${'*a'.repeat(60)}*`).matches(long, undefined), true);
    assert.equal(compilePattern(`${'**/'.repeat(40)}c`).matches(Array(127).fill('a').join('/'), undefined), false);
    assert.equal(
      compilePattern('${user}/**').matches(`${long.slice(0, 100)}/${long.slice(0, 100)}`, 'a'.repeat(100)),
      true,
    );
  });

  it('refuses a ** that is not a whole component, and empty components, when the rules are read', () => {
    for (const pattern of ['team-**', '**x/y', 'a/***', 'a//b', '/a', 'a/']) {
      assert.throws(
        () => new AccessPolicy([{ users: ['*'], repositories: [pattern], actions: ['pull'] }]),
        RuleError,
        pattern,
      );
    }
  });
});

describe('the token server with a user named a*a*…*c and wildcard patterns', () => {
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-patterns-');
    const htpasswd = writeHtpasswd(folder, { [STARRY_USER]: 'starry', alice: 'alice-pw' });
    server = await startBerth({
      config: {
        berth: {
          auth: {
            htpasswd,
            rules: [
              { users: ['*'], repositories: ['${user}/**'], actions: ['*'] },
              { users: ['*'], repositories: [STARRY_PATTERN], actions: ['pull'] },
            ],
          },
        },
      },
    });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const token = (user: string, password: string, scope: string) =>
    api('GET', `/auth/token?service=berth&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic(user, password) },
    });
  const grantedScope = (reply: { json(): any }) =>
    JSON.parse(Buffer.from(reply.json().token.split('.')[1], 'base64url').toString()).access;

  it("answers the user a*a*…*c asking for a repository of 30 a's", async () => {
    const reply = await token(STARRY_USER, 'starry', `repository:${'a'.repeat(30)}:pull`);
    assert.equal(reply.status, 401, 'a name with "*" cannot sign in');
  });

  it("answers a wildcard pattern against a long name of a's, and still grants what matches", async () => {
    const miss = await token('alice', 'alice-pw', `repository:${'a'.repeat(60)}:pull`);
    assert.equal(miss.status, 200, miss.text());
    assert.deepEqual(grantedScope(miss), []);
    const hit = await token('alice', 'alice-pw', `repository:${'a'.repeat(60)}c:pull`);
    assert.deepEqual(grantedScope(hit), [{ type: 'repository', name: `${'a'.repeat(60)}c`, actions: ['pull'] }]);
    const own = await token('alice', 'alice-pw', 'repository:alice/tools/app:push');
    assert.deepEqual(grantedScope(own), [{ type: 'repository', name: 'alice/tools/app', actions: ['push'] }]);
  });

  it('refuses scope names outside the repository grammar or over 255 characters with 400 invalid_scope', async () => {
    for (const name of [
      'a'.repeat(256),
      `${'a/'.repeat(127)}ab`,
      'Team/App',
      'a//b',
      '/a',
      'a/',
      'a..b',
      '-a',
      'a*b',
      'a\\b',
    ]) {
      const reply = await token('alice', 'alice-pw', `repository:${name}:pull`);
      assert.equal(reply.status, 400, `${name.slice(0, 40)}: ${reply.text()}`);
      assert.equal(reply.json().error, 'invalid_scope');
      assert.match(reply.json().errors[0].message, /not a repository name/);
    }
    const form = `grant_type=password&username=alice&password=alice-pw&service=berth&scope=${encodeURIComponent(`repository:${'a'.repeat(300)}:pull`)}`;
    const post = await api('POST', '/auth/token', {
      body: form,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(post.status, 400);
    assert.equal(post.json().error, 'invalid_scope');
  });

  it("accepts the scope grammar's registry host (with a port) before the repository name", async () => {
    const reply = await token('alice', 'alice-pw', 'repository:localhost:5000/alice/app:pull');
    assert.equal(reply.status, 200, reply.text());
    assert.equal((await token('alice', 'alice-pw', 'repository:registry.example.com/alice/app:pull')).status, 200);
  });
});

/**
 * The pure parts of access control: scope grammar, what each route needs, repository patterns,
 * how rules combine (first match, explicit deny, default deny), every rule kind, the token
 * server's intersection, and libtrust key IDs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { requirementFor } from '../../src/auth/access.js';
import { RouteTable } from '../../src/request/routes.js';
import { parseRequestTarget } from '../../src/request/target.js';
import { compilePattern } from '../../src/api/pattern.js';
import { AccessPolicy, DEFAULT_RULES, RuleError } from '../../src/auth/rules.js';
import { formatScope, grants, parseScope, parseScopes } from '../../src/auth/scope.js';
import { libtrustKeyId } from '../../src/auth/token/keys.js';
import { bearerChallenge } from '../../src/auth/challenge.js';

describe('scope grammar', () => {
  it('parses type, name and actions, with a port in the name and a deprecated class', () => {
    assert.deepEqual(parseScope('repository:team-a/app:pull,push'), {
      type: 'repository',
      name: 'team-a/app',
      actions: ['pull', 'push'],
    });
    assert.deepEqual(parseScope('repository:localhost:5000/app:pull'), {
      type: 'repository',
      name: 'localhost:5000/app',
      actions: ['pull'],
    });
    assert.deepEqual(parseScope('repository(plugin):x/y:pull'), { type: 'repository', name: 'x/y', actions: ['pull'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.equal(parseScope('repository:onlyname'), undefined);
    assert.equal(parseScope('Repository:x:pull'), undefined);
    assert.equal(parseScope(':x:pull'), undefined);
  });

  it('reads several scopes per parameter and merges scopes on one resource', () => {
    const { scopes, invalid } = parseScopes(['repository:a:pull repository:b:push', 'repository:a:push', 'nonsense']);
    assert.deepEqual(scopes.map(formatScope), ['repository:a:pull,push', 'repository:b:push']);
    assert.deepEqual(invalid, ['nonsense']);
  });

  it('checks a token access list, with * covering every action', () => {
    const access = [
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['*'] },
    ];
    assert.ok(grants(access, { type: 'repository', name: 'a', actions: ['pull'] }));
    assert.ok(!grants(access, { type: 'repository', name: 'a', actions: ['pull', 'push'] }));
    assert.ok(grants(access, { type: 'repository', name: 'b', actions: ['pull', 'push', 'delete'] }));
    assert.ok(!grants(access, { type: 'registry', name: 'catalog', actions: ['*'] }));
  });

  it('writes challenges as Distribution does', () => {
    assert.equal(
      bearerChallenge(
        'https://auth.example/token',
        'registry.example',
        [{ type: 'repository', name: 'samalba/my-app', actions: ['pull', 'push'] }],
        'insufficient_scope',
      ),
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push",error="insufficient_scope"',
    );
  });
});

describe('what each request needs', () => {
  const scopes = (method: string, url: string, prefix = '') => {
    const target = parseRequestTarget(url);
    const requirement = requirementFor(method, new RouteTable({ prefix }).routeOf(target.path), target.query);
    return requirement.kind === 'access' ? requirement.access.map(formatScope).join(' ') : requirement.kind;
  };

  it('maps every route and method to the scopes Distribution asks for', () => {
    assert.equal(scopes('GET', '/v2/'), 'authenticated');
    assert.equal(scopes('GET', '/v2/_catalog?n=10'), 'registry:catalog:*');
    assert.equal(scopes('GET', '/v2/a/b/tags/list'), 'repository:a/b:pull');
    assert.equal(scopes('GET', '/v2/a/manifests/latest'), 'repository:a:pull');
    assert.equal(scopes('HEAD', '/v2/a/manifests/latest'), 'repository:a:pull');
    assert.equal(scopes('PUT', '/v2/a/manifests/latest'), 'repository:a:pull,push');
    assert.equal(scopes('DELETE', `/v2/a/manifests/sha256:${'0'.repeat(64)}`), 'repository:a:delete');
    assert.equal(scopes('GET', `/v2/a/blobs/sha256:${'0'.repeat(64)}`), 'repository:a:pull');
    assert.equal(scopes('DELETE', `/v2/a/blobs/sha256:${'0'.repeat(64)}`), 'repository:a:delete');
    assert.equal(scopes('POST', '/v2/a/blobs/uploads/'), 'repository:a:pull,push');
    assert.equal(
      scopes('POST', `/v2/a/blobs/uploads/?mount=sha256:${'0'.repeat(64)}&from=b/c`),
      'repository:a:pull,push repository:b/c:pull',
    );
    for (const method of ['GET', 'PATCH', 'PUT', 'DELETE'])
      assert.equal(scopes(method, '/v2/a/blobs/uploads/some-uuid'), 'repository:a:pull,push');
    assert.equal(scopes('GET', `/v2/a/referrers/sha256:${'0'.repeat(64)}`), 'repository:a:pull');
    assert.equal(scopes('POST', '/_berth/admin/gc'), 'registry:admin:*');
    assert.equal(scopes('GET', '/registry/_berth/admin/gc', '/registry'), 'registry:admin:*');
    assert.equal(scopes('GET', '/v2/INVALID/tags/list'), 'authenticated');
    assert.equal(scopes('GET', '/auth/token?service=x'), 'open');
    assert.equal(scopes('GET', '/elsewhere'), 'open');
    assert.equal(scopes('GET', '/registry/v2/a/tags/list', '/registry'), 'repository:a:pull');
  });
});

describe('repository patterns', () => {
  const matches = (pattern: string, name: string, user?: string) => compilePattern(pattern).matches(name, user);

  it('* is one path component, ** one or more, ${user} the caller', () => {
    assert.ok(matches('team-a/*', 'team-a/app'));
    assert.ok(!matches('team-a/*', 'team-a/app/sub'));
    assert.ok(!matches('team-a/*', 'team-a'));
    assert.ok(matches('public/**', 'public/a/b/c'));
    assert.ok(!matches('public/**', 'public'));
    assert.ok(!matches('public/**', 'publicity/a'));
    assert.ok(matches('**', 'anything/at/all'));
    assert.ok(matches('${user}/*', 'alice/app', 'alice'));
    assert.ok(!matches('${user}/*', 'bob/app', 'alice'));
    assert.ok(!matches('${user}/*', 'alice/app'), 'anonymous callers have no namespace');
    assert.ok(!matches('a.b/*', 'axb/c'), 'dots are literal');
  });
});

describe('access rules', () => {
  const policy = new AccessPolicy(
    [
      { users: ['mallory'], repositories: ['**'], actions: [] },
      { groups: ['admins'], registry: ['catalog', 'admin'], repositories: ['**'], actions: ['*'] },
      { groups: ['team-a'], repositories: ['team-a/*'], actions: ['pull', 'push'] },
      { users: ['*'], repositories: ['${user}/**'], actions: ['*'] },
      { anonymous: true, repositories: ['public/**'], actions: ['pull'] },
      { users: ['carol'], repositories: ['team-a/*'], actions: ['pull', 'push', 'delete'] },
      { users: ['*'], registry: ['catalog'] },
    ],
    { admins: ['root'], 'team-a': ['alice', 'carol'] },
  );
  const actions = (user: string | undefined, name: string) => policy.allowed({ user }, 'repository', name).join(',');

  it('applies rules by user, group, anonymous and personal namespace', () => {
    assert.equal(actions('root', 'anything/here'), '*');
    assert.equal(actions('alice', 'team-a/app'), 'pull,push');
    assert.equal(actions('alice', 'alice/tools/x'), '*');
    assert.equal(actions('bob', 'alice/tools'), '');
    assert.equal(actions(undefined, 'public/base'), 'pull');
    assert.equal(actions('bob', 'public/base'), 'pull', 'anonymous rules apply to signed-in users too');
  });

  it('lets the first matching rule decide, so order matters and [] denies', () => {
    assert.equal(actions('carol', 'team-a/app'), 'pull,push', "the team rule comes before carol's own");
    assert.equal(actions('mallory', 'public/base'), '', 'an explicit deny above the anonymous rule');
    assert.equal(actions('mallory', 'mallory/x'), '');
  });

  it('denies what no rule mentions', () => {
    assert.equal(actions('alice', 'team-b/app'), '');
    assert.equal(actions(undefined, 'team-a/app'), '');
    assert.deepEqual(policy.allowed({ user: 'alice' }, 'other', 'x'), []);
  });

  it('grants registry rights to any matching rule that names them', () => {
    assert.deepEqual(policy.allowed({ user: 'root' }, 'registry', 'admin'), ['*']);
    assert.deepEqual(policy.allowed({ user: 'alice' }, 'registry', 'admin'), []);
    assert.deepEqual(policy.allowed({ user: 'alice' }, 'registry', 'catalog'), ['*']);
    assert.deepEqual(policy.allowed({}, 'registry', 'catalog'), []);
  });

  it('intersects what is asked with what is allowed, never failing a partly allowed scope', () => {
    const granted = policy.grant({ user: 'alice' }, [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'team-b/app', actions: ['pull'] },
      { type: 'repository', name: 'alice/x', actions: ['*'] },
      { type: 'repository', name: 'public/y', actions: ['*'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'registry', name: 'admin', actions: ['*'] },
    ]);
    assert.deepEqual(granted.map(formatScope), [
      'repository:team-a/app:pull,push',
      'repository:alice/x:*',
      'repository:public/y:pull',
      'registry:catalog:*',
    ]);
  });

  it('refuses rules that name nobody, nothing, an unknown group, or repositories without actions', () => {
    assert.throws(() => new AccessPolicy([{ repositories: ['x'], actions: ['pull'] }]), RuleError);
    assert.throws(() => new AccessPolicy([{ users: ['a'] }]), RuleError);
    assert.throws(
      () => new AccessPolicy([{ groups: ['nope'], repositories: ['x'], actions: ['pull'] }]),
      /group "nope" is not defined/,
    );
    assert.throws(() => new AccessPolicy([{ users: ['a'], repositories: ['x'] }]), /need actions/);
  });

  it('by default gives every signed-in user everything but admin, and admins the admin right', () => {
    const defaults = new AccessPolicy(DEFAULT_RULES, { admins: ['root'] });
    assert.deepEqual(defaults.allowed({ user: 'anyone' }, 'repository', 'x/y'), ['*']);
    assert.deepEqual(defaults.allowed({ user: 'anyone' }, 'registry', 'catalog'), ['*']);
    assert.deepEqual(defaults.allowed({ user: 'anyone' }, 'registry', 'admin'), []);
    assert.deepEqual(defaults.allowed({ user: 'root' }, 'registry', 'admin'), ['*']);
    assert.deepEqual(defaults.allowed({}, 'repository', 'x'), []);
  });
});

describe('libtrust key IDs', () => {
  it('match the example key of the token specification', () => {
    const key = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: 'm7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q',
        y: 'dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc',
      },
      format: 'jwk',
    });
    assert.equal(libtrustKeyId(key), 'PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6');
  });
});

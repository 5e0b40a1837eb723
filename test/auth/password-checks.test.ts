/**
 * Password checks: bcrypt runs off the event loop, a bounded number at a time, with a bounded
 * queue (beyond it a login is refused at once with 429 and Retry-After), and wherever Berth
 * checks passwords a `failedlogins` budget (10 per 15 minutes per address) is on by default,
 * replaced by a configured one, lifted by `unlimited`. How an authorised request fares during a
 * flood of wrong passwords is measured in bench/login-flood.ts, not here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { validateConfig } from '../../src/config/load.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { assertError, client, type Api } from '../helpers/http.js';
import { basic, writeHtpasswd } from './support.js';

const TOKEN = '/auth/token?service=berth&scope=repository:alice/app:pull';

describe('the default failed-logins budget', () => {
  let folder: string;
  before(() => (folder = tempDir('berth-password-checks-')));
  after(() => rmSync(folder, { recursive: true, force: true }));

  for (const [setup, config, path] of [
    ['HTTP Basic (auth.htpasswd)', (htpasswd: string) => ({ auth: { htpasswd: { path: htpasswd } } }), '/v2/'],
    ['the token server (berth.auth.htpasswd)', (htpasswd: string) => ({ berth: { auth: { htpasswd } } }), TOKEN],
  ] as const) {
    it(`refuses the 11th wrong password from an address with 429, with ${setup} and no berth.ratelimit`, async () => {
      const htpasswd = writeHtpasswd(folder, { alice: 'right' }, `users-${path.length}`);
      const server = await startBerth({ config: config(htpasswd) });
      try {
        const api = client(server.url);
        for (let attempt = 1; attempt <= 10; attempt += 1) {
          const reply = await api('GET', path, { headers: { Authorization: basic('alice', `guess-${attempt}`) } });
          assert.equal(reply.status, 401, `attempt ${attempt}`);
        }
        const refused = await api('GET', path, { headers: { Authorization: basic('alice', 'right') } });
        assertError(refused, 429, 'TOOMANYREQUESTS', 'after 10 wrong passwords');
        assert.deepEqual(
          {
            budget: refused.json().errors[0].detail.budget,
            limit: refused.json().errors[0].detail.limit,
            window: refused.json().errors[0].detail.window,
          },
          { budget: 'failedlogins', limit: 10, window: 900 },
        );
        assert.ok(Number(refused.header('retry-after')) >= 1);
      } finally {
        await server.close();
      }
    });
  }

  it('is replaced by a configured budget, lifted by unlimited, and off with enabled: false or without passwords', () => {
    const load = (tree: Record<string, unknown>) =>
      validateConfig({ storage: { filesystem: { rootdirectory: '/tmp/x' } }, ...tree }).config.berth.ratelimit;
    const users = { htpasswd: '/etc/berth/htpasswd' };
    assert.deepEqual(load({ berth: { auth: users } })?.failedlogins, { limit: 10, window: 900_000 });
    assert.deepEqual(load({ auth: { htpasswd: { path: '/x' } } })?.failedlogins, { limit: 10, window: 900_000 });
    assert.deepEqual(load({ berth: { auth: users, ratelimit: { failedlogins: '3/1m' } } })?.failedlogins, {
      limit: 3,
      window: 60_000,
    });
    assert.equal(
      load({ berth: { auth: users, ratelimit: { failedlogins: 'unlimited' } } })?.failedlogins?.limit,
      'unlimited',
    );
    assert.equal(load({ berth: { auth: users, ratelimit: { enabled: false } } })?.enabled, false);
    assert.equal(load({}), undefined, 'auth off');
    assert.equal(
      load({ auth: { token: { realm: 'https://auth.example/token', rootcertbundle: '/x' } } }),
      undefined,
      'an external token server: Berth sees no password',
    );
  });

  it('lets every wrong password through to a 401 with failedlogins: unlimited', async () => {
    const htpasswd = writeHtpasswd(folder, { alice: 'right' }, 'users-unlimited');
    const server = await startBerth({
      config: { auth: { htpasswd: { path: htpasswd } }, berth: { ratelimit: { failedlogins: 'unlimited' } } },
    });
    try {
      const api = client(server.url);
      for (let attempt = 1; attempt <= 15; attempt += 1) {
        assert.equal(
          (await api('GET', '/v2/', { headers: { Authorization: basic('alice', `guess-${attempt}`) } })).status,
          401,
          `attempt ${attempt}`,
        );
      }
      assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('alice', 'right') } })).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('a bounded number of password checks', () => {
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-password-queue-');
    const htpasswd = join(folder, 'htpasswd');
    // Cost 12: each check takes long enough that the requests below overlap.
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('right', 12)}\n`);
    server = await startBerth({
      config: {
        auth: { htpasswd: { path: htpasswd } },
        berth: { auth: { passwordchecks: { concurrent: 1, queue: 1 } }, ratelimit: { failedlogins: 'unlimited' } },
      },
    });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('refuses logins beyond the running and waiting checks at once, with 429 and Retry-After, then takes them again', async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        api('GET', '/v2/', { headers: { Authorization: basic(index % 2 ? 'alice' : 'nobody', `guess-${index}`) } }),
      ),
    );
    const statuses = replies.map((reply) => reply.status);
    assert.ok(
      statuses.every((status) => status === 401 || status === 429),
      statuses.join(','),
    );
    assert.ok(statuses.includes(401) && statuses.includes(429), statuses.join(','));
    for (const refused of replies.filter((reply) => reply.status === 429)) {
      assertError(refused, 429, 'TOOMANYREQUESTS');
      assert.equal(refused.header('retry-after'), '1');
      assert.match(refused.json().errors[0].message, /too many password checks in progress \(1 running, 1 waiting\)/);
    }
    // Every slot was handed back: checks run again, one after another.
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('alice', 'right') } })).status, 200);
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('alice', 'wrong') } })).status, 401);
  });

  it('does not queue a login it has already checked: remembered credentials answer during a flood', async () => {
    const flood = Array.from({ length: 6 }, (_, index) =>
      api('GET', '/v2/', { headers: { Authorization: basic('alice', `flood-${index}`) } }),
    );
    const remembered = await api('GET', '/v2/', { headers: { Authorization: basic('alice', 'right') } });
    assert.equal(remembered.status, 200);
    await Promise.all(flood);
  });
});

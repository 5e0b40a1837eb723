/**
 * Brute force: failed logins (the token server's Basic and password grant, and HTTP Basic on the
 * registry) spend the `failedlogins` budget of the client's address; once it is spent, every
 * login from that address is refused with 429 until the window ends, right password or not.
 * Token requests spend `tokens`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { ManualClock } from '../helpers/clock.js';
import { client, type Api } from '../helpers/http.js';
import { writeHtpasswd } from '../auth/support.js';
import { assertBudget, assertRefused, basic, endWindow } from './support.js';

const TOKEN = '/auth/token?service=berth&scope=repository:a/b:pull';

describe('the token endpoint', () => {
  const clock = new ManualClock();
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-bruteforce-');
    const htpasswd = writeHtpasswd(folder, { alice: 'right' });
    server = await startBerth({
      clock,
      config: {
        berth: {
          auth: { htpasswd },
          trustedproxies: ['127.0.0.1'],
          ratelimit: { failedlogins: '3/2s', tokens: '5/2s' },
        },
      },
    });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('stops guessing after the failed-login budget, even with the right password, until the window ends', async () => {
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const reply = await api('GET', TOKEN, { headers: { Authorization: basic('alice', `guess-${attempt}`) } });
      assert.equal(reply.status, 401, `attempt ${attempt}`);
    }
    const blocked = await api('GET', TOKEN, { headers: { Authorization: basic('alice', 'right') } });
    assertRefused(blocked, 3, 2, 'after 3 failures');
    assert.match(blocked.json().errors[0].message, /too many failed logins from address 127\.0\.0\.1/);
    // The password grant is a login too.
    const form = 'grant_type=password&username=alice&password=right&service=berth';
    const post = await api('POST', '/auth/token', {
      body: form,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assertRefused(post, 3, 2, 'POST');
    // Another client (behind the trusted proxy) is not affected.
    const other = await api('GET', TOKEN, {
      headers: { Authorization: basic('alice', 'right'), 'X-Forwarded-For': '198.51.100.7' },
    });
    assert.equal(other.status, 200, other.text());
    endWindow(clock, 2);
    const again = await api('GET', TOKEN, { headers: { Authorization: basic('alice', 'right') } });
    assert.equal(again.status, 200, again.text());
    assert.ok(again.json().token);
  });

  it('counts failed password grants', async () => {
    endWindow(clock, 2);
    const post = (password: string) =>
      api('POST', '/auth/token', {
        body: `grant_type=password&username=alice&password=${password}&service=berth`,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
    for (let attempt = 1; attempt <= 3; attempt += 1) assert.equal((await post(`nope${attempt}`)).status, 400);
    assertRefused(await post('right'), 3, 2, 'password grant');
  });

  it('limits token requests per address, with the headers on each token response', async () => {
    endWindow(clock, 2);
    for (let remaining = 4; remaining >= 0; remaining -= 1) {
      const reply = await api('GET', TOKEN);
      assert.equal(reply.status, 200, reply.text());
      assertBudget(reply, 5, remaining, 2);
    }
    assertRefused(await api('GET', TOKEN), 5, 2, 'sixth token request');
  });
});

describe('HTTP Basic on the registry', () => {
  const clock = new ManualClock();
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-bruteforce-');
    const htpasswd = writeHtpasswd(folder, { bob: 'secret' });
    server = await startBerth({
      clock,
      config: {
        auth: { htpasswd: { realm: 'Berth', path: htpasswd } },
        berth: { ratelimit: { failedlogins: '2/2s' } },
      },
    });
    api = client(server.url);
  });
  after(async () => {
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('refuses credentials from an address that spent its failed logins; requests without any still get the challenge', async () => {
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('bob', 'x') } })).status, 401);
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('mallory', 'y') } })).status, 401);
    assertRefused(
      await api('GET', '/v2/', { headers: { Authorization: basic('bob', 'secret') } }),
      2,
      2,
      'third login',
    );
    const anonymous = await api('GET', '/v2/');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.header('www-authenticate') ?? '', /^Basic /);
    endWindow(clock, 2);
    assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('bob', 'secret') } })).status, 200);
  });

  it('does not count successful logins', async () => {
    endWindow(clock, 2);
    for (let index = 0; index < 6; index += 1) {
      assert.equal((await api('GET', '/v2/', { headers: { Authorization: basic('bob', 'secret') } })).status, 200);
    }
  });
});

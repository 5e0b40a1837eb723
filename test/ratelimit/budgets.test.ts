/**
 * Budgets in memory: the n+1-th request of a window is refused and the window resets, the
 * headers are exact, pulls and upload starts have their own budgets, overrides per user, group
 * and anonymous callers, and everything stays off unless configured.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { ManualClock } from '../helpers/clock.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { client, type Api } from '../helpers/http.js';
import { writeHtpasswd } from '../auth/support.js';
import { assertBudget, assertNoBudget, assertRefused, basic, endWindow } from './support.js';

describe('rate limits off', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth()));
  after(() => server.close());

  it('sends no RateLimit headers and refuses nothing by default', async () => {
    const api = client(server.url);
    for (let index = 0; index < 30; index += 1) {
      const reply = await api('GET', '/v2/a/manifests/latest');
      assert.equal(reply.status, 404);
      assertNoBudget(reply);
    }
  });

  it('stays off with enabled: false', async () => {
    const off = await startBerth({ config: { berth: { ratelimit: { enabled: false, requests: '1/60s' } } } });
    try {
      const api = client(off.url);
      for (let index = 0; index < 3; index += 1) assertNoBudget(await api('GET', '/v2/'));
    } finally {
      await off.close();
    }
  });
});

describe('the requests budget', () => {
  const clock = new ManualClock();
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({ clock, config: { berth: { ratelimit: { requests: { limit: 3, window: '2s' } } } } });
    api = client(server.url);
  });
  after(() => server.close());

  it('counts down, refuses the n+1-th request with 429, and resets with the window', async () => {
    for (let remaining = 2; remaining >= 0; remaining -= 1) {
      const reply = await api('GET', '/v2/');
      assert.equal(reply.status, 200);
      assertBudget(reply, 3, remaining, 2, `remaining ${remaining}`);
    }
    const refused = await api('GET', '/v2/');
    assertRefused(refused, 3, 2);
    const error = refused.json().errors[0];
    assert.deepEqual(Object.keys(error).sort(), ['code', 'detail', 'message']);
    assert.match(error.message, /rate limit reached for address 127\.0\.0\.1: 3 requests per 2 s/);
    assert.equal(error.detail.budget, 'requests');
    // Still refused while the window lasts, whatever the request.
    assertRefused(await api('GET', '/v2/_catalog'), 3, 2);
    endWindow(clock, 2);
    const fresh = await api('GET', '/v2/');
    assert.equal(fresh.status, 200);
    assertBudget(fresh, 3, 2, 2);
  });

  it('counts every kind of request, errors included, and drains a refused body', async () => {
    endWindow(clock, 2);
    const replies = [
      await api('GET', '/v2/nope/tags/list'),
      await api('PUT', '/v2/a/manifests/x', { body: Buffer.from('{}') }),
      await api('GET', '/not-the-api'),
    ];
    assert.deepEqual(
      replies.map((reply) => reply.status),
      [404, 400, 404],
    );
    for (const [index, reply] of replies.entries()) assertBudget(reply, 3, 2 - index, 2);
    // A refused upload body is read to its end, so the client sees the answer.
    const refused = await api('PATCH', '/v2/a/blobs/uploads/3f0c0e3a-8a0b-4c39-9d55-6f4f2c1f0a11', {
      body: Buffer.alloc(200_000),
    });
    assertRefused(refused, 3, 2);
  });
});

describe('pulls and uploads', () => {
  const clock = new ManualClock();
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth({
      clock,
      config: { berth: { ratelimit: { requests: '100/2s', pulls: '2/2s', uploads: '1/2s' } } },
    });
    api = client(server.url);
  });
  after(() => server.close());

  it('counts a manifest GET as one pull; HEAD and blob GETs are not pulls', async () => {
    const image = makeImage({ layers: 1 });
    await pushImage(server.url, 'p/repo', 'v1', image).catch(() => undefined); // upload budget is 1: may stop midway
    endWindow(clock, 2);
    for (let index = 0; index < 3; index += 1) {
      const head = await api('HEAD', '/v2/p/repo/manifests/v1');
      assertBudget(head, 100, 99 - index, 2, 'HEAD counts as a request only');
    }
    const first = await api('GET', '/v2/p/repo/manifests/v1');
    assertBudget(first, 2, 1, 2, 'the pull budget is closest to its limit');
    assertBudget(await api('GET', '/v2/p/repo/manifests/v1'), 2, 0, 2);
    assertRefused(await api('GET', '/v2/p/repo/manifests/v1'), 2, 2);
    const blob = await api('GET', `/v2/p/repo/blobs/${image.config.digest}`);
    assert.notEqual(blob.status, 429, 'blob GETs are not pulls');
    // 3 HEADs, 3 GETs (the refused one too) and this one.
    assertBudget(blob, 100, 93, 2);
  });

  it('counts each upload started', async () => {
    endWindow(clock, 2);
    const started = await api('POST', '/v2/u/repo/blobs/uploads/');
    assert.equal(started.status, 202);
    assertBudget(started, 1, 0, 2);
    // Chunks of the started upload are no new uploads.
    const patch = await api('PATCH', new URL(started.header('location')!).pathname, { body: Buffer.alloc(10) });
    assert.equal(patch.status, 202);
    assertBudget(patch, 100, 98, 2);
    assertRefused(await api('POST', '/v2/u/repo/blobs/uploads/'), 1, 2);
  });
});

describe('overrides per user, group and anonymous caller', () => {
  const clock = new ManualClock();
  let folder: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    folder = tempDir('berth-ratelimit-');
    const htpasswd = writeHtpasswd(folder, { alice: 'a-pass', robot: 'r-pass', carol: 'c-pass', dave: 'd-pass' });
    server = await startBerth({
      clock,
      config: {
        auth: { htpasswd: { realm: 'Berth', path: htpasswd } },
        berth: {
          auth: {
            groups: { ci: ['carol', 'dave'], staff: ['dave'] },
            rules: [
              { anonymous: true, repositories: ['public/**'], actions: ['pull'] },
              { users: ['*'], registry: ['catalog'], repositories: ['**'], actions: ['*'] },
            ],
          },
          ratelimit: {
            requests: '4/2s',
            anonymous: { requests: '2/2s' },
            groups: { staff: { requests: { limit: 6 } }, ci: { requests: '5/3s' } },
            users: { robot: { requests: 'unlimited' } },
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

  async function spend(user: string | undefined, password: string, count: number): Promise<void> {
    const headers = user ? { Authorization: basic(user, password) } : undefined;
    for (let index = 0; index < count; index += 1) {
      const reply = await api('GET', '/v2/public/x/tags/list', { headers });
      assert.equal(reply.status, 404, `${user ?? 'anonymous'} request ${index + 1}: ${reply.text()}`);
    }
  }

  it('gives signed-in users the default budget, each their own', async () => {
    await spend('alice', 'a-pass', 4);
    assertRefused(await api('GET', '/v2/', { headers: { Authorization: basic('alice', 'a-pass') } }), 4, 2, 'alice');
    // Another user, and an anonymous caller from the same address, have their own counters.
    const carol = await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'c-pass') } });
    assert.equal(carol.status, 200);
    const anonymous = await api('GET', '/v2/public/x/tags/list');
    assert.equal(anonymous.status, 404);
    assertBudget(anonymous, 2, 1, 2);
  });

  it('gives anonymous callers their lower budget', async () => {
    endWindow(clock, 3);
    await spend(undefined, '', 2);
    assertRefused(await api('GET', '/v2/public/x/tags/list'), 2, 2, 'anonymous');
  });

  it('lifts the limit of a user set to unlimited: no headers, never refused', async () => {
    endWindow(clock, 3);
    for (let index = 0; index < 12; index += 1) {
      const reply = await api('GET', '/v2/', { headers: { Authorization: basic('robot', 'r-pass') } });
      assert.equal(reply.status, 200);
      assertNoBudget(reply);
    }
  });

  it('takes the first listed group that sets a budget, with its own window or the default one', async () => {
    endWindow(clock, 3);
    // carol is in ci only: 5 per 3 s.
    const first = await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'c-pass') } });
    assertBudget(first, 5, 4, 3, 'carol');
    await spend('carol', 'c-pass', 4);
    assertRefused(await api('GET', '/v2/', { headers: { Authorization: basic('carol', 'c-pass') } }), 5, 3, 'carol');
    // dave is in ci and staff; staff is listed first: 6, in the default window of 2 s.
    const dave = await api('GET', '/v2/', { headers: { Authorization: basic('dave', 'd-pass') } });
    assertBudget(dave, 6, 5, 2, 'dave');
  });

  it('does not count requests the guard refuses', async () => {
    endWindow(clock, 3);
    const refused = await api('GET', '/v2/private/x/tags/list');
    assert.equal(refused.status, 401);
    assertNoBudget(refused);
  });
});

describe('refused configurations', () => {
  it('names the key of a budget that is not one', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ requests: 'lots' }, /berth\.ratelimit\.requests: expected a budget/],
      [{ pulls: 100 }, /berth\.ratelimit\.pulls: needs a window/],
      [{ requests: '10/500ms' }, /window must be whole seconds/],
      [{ users: { a: { pulls: 10 } } }, /berth\.ratelimit\.users\.a\.pulls: needs a window/],
    ];
    for (const [ratelimit, message] of cases) {
      await assert.rejects(startBerth({ config: { berth: { ratelimit } } }), message, JSON.stringify(ratelimit));
    }
    await assert.rejects(
      startBerth({ config: { berth: { trustedproxies: ['10.0.0.0/33'] } } }),
      /berth\.trustedproxies/,
    );
  });
});

/**
 * The web UI's page and JSON endpoints over HTTP: what the page is served with, search and pages
 * of repositories (only what the caller may pull), tags with sizes, platforms and dates, the
 * caller's rights, storage figures; `berth.ui` moves or turns off the page; the bundle's budget.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { http } from '../helpers/http.js';
import { tagEmptyIndex } from '../helpers/repos.js';
import { buildUi } from '../../src/ui/build.js';
import { UI_OUTDIR } from '../../src/ui/assets.js';
import { writeHtpasswd } from '../auth/support.js';

const folders = tempFolders();
after(() => folders.removeAll());
/** The stated budget for the UI's script and style sheet together, gzip-compressed. */
const BUNDLE_BUDGET_BYTES = 20 * 1024;

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

before(() => buildUi());

describe('the UI page and its assets', () => {
  let server: TestBerth;
  before(async () => {
    server = await startBerth();
  });
  after(() => server.close());

  it('serves the page at / with a policy that keeps every request on the registry origin', async () => {
    const page = await http(server.url, '/');
    assert.equal(page.status, 200);
    assert.match(page.header('content-type')!, /^text\/html/);
    assert.match(
      page.header('content-security-policy')!,
      /default-src 'none'; script-src 'self'; style-src 'self'.*connect-src 'self'/,
    );
    const script = /src="([^"]+app\.js\?v=[0-9a-f]+)"/.exec(page.text())?.[1];
    const style = /href="([^"]+app\.css\?v=[0-9a-f]+)"/.exec(page.text())?.[1];
    assert.ok(script && style, page.text());
    const js = await http(server.url, script);
    assert.equal(js.status, 200);
    assert.match(js.header('content-type')!, /^text\/javascript/);
    assert.match(js.header('cache-control')!, /immutable/);
    // XML namespace names (www.w3.org) are identifiers, not addresses anything is loaded from.
    const origins = [...js.text().matchAll(/https?:\/\/[a-z0-9.-]+/gi)]
      .map((match) => match[0])
      .filter((url) => url !== 'http://www.w3.org');
    assert.deepEqual(origins, [], 'the script names no other origin');
    assert.equal((await http(server.url, '/_berth/ui/other.js')).status, 404);
    assert.equal((await http(server.url, '/_berth/ui/..%2fbuild.js')).status, 400);
  });

  it('keeps the script and style sheet within the budget', () => {
    const sizes = ['app.js', 'app.css'].map((name) => gzipSync(readFileSync(`${UI_OUTDIR}/${name}`)).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(
      total <= BUNDLE_BUDGET_BYTES,
      `gzip: ${sizes.join(' + ')} = ${total} bytes, budget ${BUNDLE_BUDGET_BYTES}`,
    );
    assert.ok(statSync(`${UI_OUTDIR}/app.js`).size > 1000);
  });
});

describe('berth.ui settings', () => {
  it('moves the page with berth.ui.path and removes it with berth.ui.enabled: false', async () => {
    const moved = await startBerth({ config: { berth: { ui: { path: '/ui/' } } } });
    const off = await startBerth({ config: { berth: { ui: { enabled: false } } } });
    try {
      assert.equal((await http(moved.url, '/ui/')).status, 200);
      assert.equal((await http(moved.url, '/ui')).status, 200);
      // `/` is then Distribution's liveness answer: 200 with nothing in it.
      for (const server of [moved, off]) {
        const root = await http(server.url, '/');
        assert.equal(root.status, 200);
        assert.equal(root.body.length, 0);
      }
      assert.equal((await http(off.url, '/_berth/api/session')).status, 404);
      assert.equal((await http(off.url, '/v2/')).status, 200);
    } finally {
      await moved.close();
      await off.close();
    }
  });
});

describe('the UI JSON endpoints', () => {
  let server: TestBerth;
  const image = makeImage({ layers: 3 });
  before(async () => {
    const root = folders.make('berth-ui-api-');
    const seeding = await startBerth({ root });
    await pushImage(seeding.url, 'team/app', 'v1.10', image);
    await pushImage(seeding.url, 'team/app', 'v1.9', image);
    for (const name of ['team/other', 'public/base', 'private/secret'])
      await tagEmptyIndex(seeding.url, name, ['latest']);
    await seeding.close({ keepRoot: true });
    const htpasswd = writeHtpasswd(folders.make('berth-ui-api-users-'), { alice: 'a-secret', bob: 'b-secret' });
    server = await startBerth({
      root,
      config: {
        auth: { htpasswd: { realm: 'Berth', path: htpasswd } },
        berth: {
          auth: {
            rules: [
              { users: ['alice'], registry: ['catalog'], repositories: ['team/**', 'public/**'], actions: ['*'] },
              { users: ['bob'], registry: ['catalog'], repositories: ['public/**'], actions: ['pull'] },
            ],
          },
        },
      },
    });
  });
  after(() => server.close());

  it('describes how to sign in, without credentials', async () => {
    const session = await http(server.url, '/_berth/api/session');
    assert.equal(session.status, 200);
    assert.deepEqual(
      { auth: session.json().auth, signIn: session.json().signIn, registry: session.json().registry },
      { auth: 'basic', signIn: true, registry: server.host },
    );
  });

  it('searches repositories on the server and lists only what the caller may pull', async () => {
    assert.equal((await http(server.url, '/_berth/api/repositories')).status, 401);
    const all = await http(server.url, '/_berth/api/repositories', { headers: basic('alice', 'a-secret') });
    assert.deepEqual(all.json(), { repositories: ['public/base', 'team/app', 'team/other'], total: 3, offset: 0 });
    const bob = await http(server.url, '/_berth/api/repositories?q=a', { headers: basic('bob', 'b-secret') });
    assert.deepEqual(bob.json().repositories, ['public/base']);
    const paged = await http(server.url, '/_berth/api/repositories?prefix=team/&n=1&offset=1', {
      headers: basic('alice', 'a-secret'),
    });
    assert.deepEqual(paged.json(), { repositories: ['team/other'], total: 2, offset: 1 });
    assert.equal(
      (await http(server.url, '/_berth/api/repositories?n=x', { headers: basic('alice', 'a-secret') })).status,
      400,
    );
  });

  it("gives tags with digest, size, platforms and push date, in natural order, and the caller's rights", async () => {
    const reply = await http(server.url, '/_berth/api/repositories/team/app/tags?sort=natural', {
      headers: basic('alice', 'a-secret'),
    });
    assert.equal(reply.status, 200, reply.text());
    const body = reply.json();
    assert.deepEqual(body.actions, ['pull', 'push', 'delete']);
    assert.deepEqual(
      body.tags.map((row: { tag: string }) => row.tag),
      ['v1.9', 'v1.10'],
    );
    const size =
      image.manifest.length +
      image.config.content.length +
      image.layers.reduce((total, layer) => total + layer.content.length, 0);
    for (const row of body.tags) {
      assert.equal(row.digest, image.digest);
      assert.equal(row.size, size);
      assert.deepEqual(row.platforms, [{ os: 'linux', architecture: 'amd64' }]);
      assert.ok(Date.parse(row.pushed) > Date.now() - 600_000);
    }
    const bytes = await http(server.url, '/_berth/api/repositories/team/app/tags?sort=name', {
      headers: basic('alice', 'a-secret'),
    });
    assert.deepEqual(
      bytes.json().tags.map((row: { tag: string }) => row.tag),
      ['v1.10', 'v1.9'],
    );
    assert.equal(
      (await http(server.url, '/_berth/api/repositories/team/app/tags', { headers: basic('bob', 'b-secret') })).status,
      403,
    );
    const bobs = await http(server.url, '/_berth/api/repositories/public/base/tags', {
      headers: basic('bob', 'b-secret'),
    });
    assert.deepEqual(bobs.json().actions, ['pull']);
    assert.equal(
      (await http(server.url, '/_berth/api/repositories/team/none/tags', { headers: basic('alice', 'a-secret') }))
        .status,
      404,
    );
    assert.equal(
      (
        await http(server.url, '/_berth/api/repositories/team/app/tags?sort=size', {
          headers: basic('alice', 'a-secret'),
        })
      ).status,
      400,
    );
  });

  it('counts bytes stored once per blob', async () => {
    const reply = await http(server.url, '/_berth/api/storage', { headers: basic('alice', 'a-secret') });
    assert.equal(reply.status, 200);
    const expected =
      image.manifest.length +
      image.config.content.length +
      image.layers.reduce((total, layer) => total + layer.content.length, 0);
    // The image once (two tags name it), plus the one empty index the three other repositories share.
    assert.ok(reply.json().bytes > expected && reply.json().bytes < expected + 1024, JSON.stringify(reply.json()));
    assert.equal(reply.json().repositories, 4);
  });
});

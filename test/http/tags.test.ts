/** `GET /v2/<name>/tags/list` with `n` and `last` (end-8a, end-8b). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { pushBlob, randomBlob } from '../helpers/content.js';
import { assertError, client, type Api } from '../helpers/http.js';
import { makeIndex } from '../helpers/manifests.js';
import { tagEmptyIndex } from '../helpers/repos.js';

const TAGS = ['b', 'B', 'a', 'A', '1', '_x', 'a.b', 'a-b', 'a_b', 'z9', 'Z', '10', '9'];
/** Byte order, as Go's sort.Strings: digits, uppercase, "_", lowercase; "-" < "." < "_". */
const SORTED = ['1', '10', '9', 'A', 'B', 'Z', '_x', 'a', 'a-b', 'a.b', 'a_b', 'b', 'z9'];

/** The target of a `Link: <…>; rel="next"` header, checked for Distribution's exact form. */
function nextLink(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^<([^>]+)>; rel="next"$/.exec(header);
  assert.ok(match, `Link header "${header}"`);
  return match[1];
}

describe('tags list', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
    await tagEmptyIndex(server.url, 'tags/many', TAGS);
  });
  after(() => server.close());

  it('lists every tag in byte order as {name, tags}', async () => {
    const reply = await api('GET', '/v2/tags/many/tags/list');
    assert.equal(reply.status, 200);
    assert.match(reply.header('content-type')!, /^application\/json/);
    assert.equal(reply.header('link'), undefined);
    assert.deepEqual(reply.json(), { name: 'tags/many', tags: SORTED });
  });

  it('pages with n, writing Link as </v2/<name>/tags/list?last=X&n=N>; rel="next"', async () => {
    const first = await api('GET', '/v2/tags/many/tags/list?n=4');
    assert.deepEqual(first.json(), { name: 'tags/many', tags: ['1', '10', '9', 'A'] });
    assert.equal(first.header('link'), '</v2/tags/many/tags/list?last=A&n=4>; rel="next"');

    const seen: string[] = [];
    let path: string | undefined = '/v2/tags/many/tags/list?n=4';
    let pages = 0;
    while (path) {
      const reply = await api('GET', path);
      assert.equal(reply.status, 200);
      const tags = reply.json().tags as string[];
      seen.push(...tags);
      path = nextLink(reply.header('link'));
      if (path) assert.equal(tags.length, 4, 'a page followed by a Link is full');
      pages++;
    }
    assert.deepEqual(seen, SORTED);
    assert.equal(pages, 4);
  });

  it('sends no Link when the page ends exactly at the last tag', async () => {
    const reply = await api('GET', `/v2/tags/many/tags/list?n=${SORTED.length}`);
    assert.deepEqual(reply.json().tags, SORTED);
    assert.equal(reply.header('link'), undefined);
    const tail = await api('GET', '/v2/tags/many/tags/list?n=3&last=a_b');
    assert.deepEqual(tail.json().tags, ['b', 'z9']);
    assert.equal(tail.header('link'), undefined);
  });

  it('answers n=0 with an empty list and no Link', async () => {
    const reply = await api('GET', '/v2/tags/many/tags/list?n=0');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { name: 'tags/many', tags: [] });
    assert.equal(reply.header('link'), undefined);
  });

  it('starts after last, which need not be a tag, with or without n', async () => {
    assert.deepEqual((await api('GET', '/v2/tags/many/tags/list?last=a_b')).json().tags, ['b', 'z9']);
    assert.deepEqual((await api('GET', '/v2/tags/many/tags/list?last=a,')).json().tags, [
      'a-b',
      'a.b',
      'a_b',
      'b',
      'z9',
    ]);
    assert.deepEqual((await api('GET', '/v2/tags/many/tags/list?last=z9')).json().tags, []);
    const paged = await api('GET', '/v2/tags/many/tags/list?last=Z&n=2');
    assert.deepEqual(paged.json().tags, ['_x', 'a']);
    assert.equal(paged.header('link'), '</v2/tags/many/tags/list?last=a&n=2>; rel="next"');
  });

  it('refuses an n that is not a non-negative integer with 400', async () => {
    for (const n of ['-1', 'abc', '1.5']) {
      assertError(await api('GET', `/v2/tags/many/tags/list?n=${n}`), 400, 'UNSUPPORTED', n);
    }
  });

  it('answers 404 NAME_UNKNOWN for a repository that does not exist', async () => {
    const reply = await api('GET', '/v2/tags/nothing/tags/list');
    assertError(reply, 404, 'NAME_UNKNOWN');
    assert.deepEqual(reply.json().errors[0].detail, { name: 'tags/nothing' });
  });

  it('answers 400 NAME_INVALID for a name outside the grammar', async () => {
    assertError(await api('GET', '/v2/Tags/Upper/tags/list'), 400, 'NAME_INVALID');
  });

  it('keeps the tags of nested repositories apart (a/b and a/b/c)', async () => {
    await tagEmptyIndex(server.url, 'nest/b', ['parent']);
    await tagEmptyIndex(server.url, 'nest/b/c', ['child']);
    assert.deepEqual((await api('GET', '/v2/nest/b/tags/list')).json(), { name: 'nest/b', tags: ['parent'] });
    assert.deepEqual((await api('GET', '/v2/nest/b/c/tags/list')).json(), { name: 'nest/b/c', tags: ['child'] });
    assertError(await api('GET', '/v2/nest/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('lists a repository whose tags were all deleted as empty', async () => {
    await tagEmptyIndex(server.url, 'tags/emptied', ['only']);
    assert.equal((await api('DELETE', '/v2/tags/emptied/manifests/only')).status, 202);
    const reply = await api('GET', '/v2/tags/emptied/tags/list');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { name: 'tags/emptied', tags: [] });
  });

  it('lists a repository that holds only blobs as found, with no tags', async () => {
    await pushBlob(server.url, 'tags/blobsonly', randomBlob(10));
    const reply = await api('GET', '/v2/tags/blobsonly/tags/list');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { name: 'tags/blobsonly', tags: [] });
  });

  it('moves a tag to the manifest pushed last', async () => {
    const first = await tagEmptyIndex(server.url, 'tags/moving', ['latest']);
    const next = makeIndex([], { extra: { annotations: { version: '2' } } });
    const pushed = await api('PUT', '/v2/tags/moving/manifests/latest', {
      body: next.bytes,
      headers: { 'Content-Type': next.mediaType },
    });
    assert.equal(pushed.status, 201);
    assert.notEqual(first, next.digest);
    assert.equal((await api('GET', '/v2/tags/moving/manifests/latest')).header('docker-content-digest'), next.digest);
    assert.deepEqual((await api('GET', '/v2/tags/moving/tags/list')).json().tags, ['latest']);
    assert.equal(
      (await api('GET', `/v2/tags/moving/manifests/${first}`)).status,
      200,
      'the old manifest stays pullable by digest',
    );
  });
});

/**
 * Hostile input, property-based (fast-check): repository names, tags, digests, `Range` and
 * `Content-Range`, query parameters and manifest bodies (wrong types, deep nesting, huge arrays,
 * duplicate keys, invalid UTF-8). Whatever is sent: never a 5xx, every error is the spec's JSON
 * envelope, the server keeps serving, and nothing is written outside the storage root.
 * Runs are seeded, so a failure replays.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isValidName, isValidTag } from '../../src/api/reference.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import {
  DOCKER_MANIFEST,
  makeImage,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  pushBlob,
  pushImage,
  randomBlob,
  sha256,
  type Image,
} from '../helpers/content.js';
import { listTree } from '../helpers/files.js';
import { assertError, client, type Api, type HttpReply } from '../helpers/http.js';

const SEED = 20251127;
const UNKNOWN_DIGEST = `sha256:${'0'.repeat(64)}`;

/** Pieces that matter to paths: traversal, encodings of `.`, `/`, `\` and NUL, and plain text. */
const PATH_PIECES = [
  'a',
  'b0',
  '.',
  '..',
  '/',
  '\\',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%00',
  '%',
  '%zz',
  '_',
  '-',
  '__',
  ':',
  '~',
  '%20',
  'é',
  '%c3%a9',
  '%ff',
  '*',
  '?',
  '#',
];
const pathText = fc
  .array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 12 })
  .map((pieces) => pieces.join(''));
/** A request target is ASCII, and a raw `?`/`#` would end the path: those are percent-encoded. */
const safeForPath = (text: string) => text.replace(/[?#]|[^\x21-\x7e]/g, (char) => encodeURIComponent(char));

function assertSane(reply: HttpReply, what: string): void {
  assert.ok(reply.status < 500, `${what}: ${reply.status} ${reply.text().slice(0, 300)}`);
  if (reply.status >= 400 && reply.body.length > 0)
    assertError(reply, reply.status, reply.json().errors?.[0]?.code, what);
}

describe('hostile input (property-based)', () => {
  let parent: string;
  let root: string;
  let server: TestBerth;
  let api: Api;
  let image: Image;
  let outsideBefore: string[];
  const big = randomBlob(4096);

  const outside = () => listTree(parent).filter((entry) => entry !== 'root/' && !entry.startsWith('root/'));

  before(async () => {
    parent = tempDir('berth-hostile-');
    root = join(parent, 'root');
    // Something beside the root that must stay as it is.
    mkdirSync(join(parent, 'beside'));
    writeFileSync(join(parent, 'beside', 'keep'), 'untouched');
    server = await startBerth({ root, config: { berth: { manifestmaxsize: 256 * 1024 } } });
    api = client(server.url);
    image = makeImage({ layers: 1 });
    await pushImage(server.url, 'good/repo', 'v1', image);
    await pushBlob(server.url, 'good/repo', big);
    outsideBefore = outside();
  });

  after(async () => {
    await server.close();
    rmSync(parent, { recursive: true, force: true });
  });

  it('repository names: every endpoint refuses or serves, never escapes', async () => {
    await fc.assert(
      fc.asyncProperty(
        pathText,
        fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'),
        async (raw, method) => {
          const name = safeForPath(raw);
          const targets = [
            `/v2/${name}/tags/list`,
            `/v2/${name}/manifests/v1`,
            `/v2/${name}/blobs/${image.config.digest}`,
            `/v2/${name}/blobs/uploads/`,
            `/v2/${name}/blobs/uploads/3f0c0e3a-8a0b-4c39-9d55-6f4f2c1f0a11`,
            `/v2/${name}/referrers/${image.digest}`,
            `/v2/good/repo/blobs/uploads/?mount=${image.config.digest}&from=${encodeURIComponent(raw)}`,
          ];
          for (const path of targets) {
            const body = method === 'PUT' || method === 'PATCH' || method === 'POST' ? image.manifest : undefined;
            const reply = await api(method, path, { body, headers: { 'Content-Type': OCI_MANIFEST } });
            assertSane(reply, `${method} ${path}`);
            // Success only for names of the grammar.
            if (reply.status < 300 && !path.includes('mount=')) {
              assert.ok(isValidName(decodeURIComponent(name)), `${method} ${path} succeeded (${reply.status})`);
            }
          }
        },
      ),
      { numRuns: 120, seed: SEED },
    );
    assert.deepEqual(outside(), outsideBefore);
  });

  it('tags and references: only the grammar is accepted', async () => {
    const tag = fc.oneof(
      pathText,
      fc.string({ minLength: 1, maxLength: 140 }),
      fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,140}$/),
    );
    await fc.assert(
      fc.asyncProperty(tag, fc.boolean(), async (raw, asQuery) => {
        const encoded = encodeURIComponent(raw);
        const path = asQuery
          ? `/v2/good/repo/manifests/${image.digest}?tag=${encoded}`
          : `/v2/good/repo/manifests/${encoded}`;
        const put = await api('PUT', path, { body: image.manifest, headers: { 'Content-Type': image.mediaType } });
        assertSane(put, `PUT ${path}`);
        if (put.status === 201 && !asQuery)
          assert.ok(isValidTag(raw) || raw === image.digest, `accepted tag ${JSON.stringify(raw)}`);
        if (put.status === 201 && asQuery) assert.ok(isValidTag(raw), `accepted ?tag=${JSON.stringify(raw)}`);
        for (const method of ['GET', 'HEAD', 'DELETE'])
          assertSane(await api(method, `/v2/good/repo/manifests/${encoded}`), `${method} ${raw}`);
      }),
      { numRuns: 200, seed: SEED },
    );
    assert.deepEqual(outside(), outsideBefore);
  });

  it('digests: malformed ones are DIGEST_INVALID or unknown, never a 5xx', async () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${length}}$`));
    const digest = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('sha256', 'sha512', 'SHA256', 'md5', 'sha256+b64', 'a.b', '', 'sha384'),
          fc.oneof(hex(64), hex(128), hex(63), pathText),
        )
        .map(([algorithm, value]) => `${algorithm}:${value}`),
      pathText,
      fc.string({ maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(digest, async (raw) => {
        const encoded = encodeURIComponent(raw);
        const requests: Array<[string, string]> = [
          ['GET', `/v2/good/repo/blobs/${encoded}`],
          ['HEAD', `/v2/good/repo/blobs/${encoded}`],
          ['DELETE', `/v2/good/repo/blobs/${encoded}`],
          ['GET', `/v2/good/repo/referrers/${encoded}`],
          ['POST', `/v2/good/repo/blobs/uploads/?digest=${encoded}`],
          ['POST', `/v2/good/repo/blobs/uploads/?mount=${encoded}&from=good/repo`],
          ['GET', `/v2/good/repo/manifests/${encoded}`],
        ];
        for (const [method, path] of requests) {
          const reply = await api(method, path, method === 'POST' ? { body: Buffer.from('x') } : {});
          assertSane(reply, `${method} ${path}`);
        }
      }),
      { numRuns: 150, seed: SEED },
    );
    // The pushed content is still there.
    assert.equal((await api('GET', `/v2/good/repo/blobs/${image.config.digest}`)).status, 200);
  });

  it('Range on blob GETs: 200, 206 with the exact bytes, or 416', async () => {
    const number = fc.oneof(
      fc.nat({ max: 5000 }),
      fc.constantFrom(0, 4095, 4096, 4097, 2 ** 53, 1e20),
      fc.integer({ min: -10, max: -1 }),
    );
    const range = fc.oneof(
      fc.tuple(number, fc.option(number, { nil: undefined })).map(([start, end]) => `bytes=${start}-${end ?? ''}`),
      number.map((suffix) => `bytes=-${suffix}`),
      fc.tuple(number, number, number, number).map(([a, b, c, d]) => `bytes=${a}-${b},${c}-${d}`),
      fc.string({ maxLength: 40 }).filter((text) => /^[\x20-\x7e]*$/.test(text)),
      fc.constantFrom('bytes=', 'bytes=-', 'items=0-1', 'bytes=1-0', 'bytes= 0-1', 'BYTES=0-1'),
    );
    await fc.assert(
      fc.asyncProperty(range, async (header) => {
        const reply = await api('GET', `/v2/good/repo/blobs/${big.digest}`, { headers: { Range: header } });
        assertSane(reply, `Range: ${header}`);
        assert.ok([200, 206, 416].includes(reply.status), `Range: ${header}: ${reply.status}`);
        if (reply.status === 200) assert.deepEqual(reply.body, big.content);
        if (reply.status === 206) {
          const match = /^bytes (\d+)-(\d+)\/4096$/.exec(reply.header('content-range') ?? '');
          assert.ok(match, `Content-Range ${reply.header('content-range')}`);
          assert.deepEqual(reply.body, big.content.subarray(Number(match[1]), Number(match[2]) + 1));
        }
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('Content-Range on chunks: accepted only where the upload stands; the upload stays consistent', async () => {
    const number = fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(2 ** 53, 1e20, -1));
    const contentRange = fc.oneof(
      fc.tuple(number, number).map(([start, end]) => `${start}-${end}`),
      fc.tuple(number, number).map(([start, end]) => `bytes ${start}-${end}/*`),
      fc.string({ maxLength: 30 }).filter((text) => /^[\x20-\x7e]*$/.test(text)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(contentRange, fc.uint8Array({ maxLength: 16 })), { minLength: 1, maxLength: 5 }),
        async (chunks) => {
          const start = await api('POST', '/v2/good/chunks/blobs/uploads/');
          const path = new URL(start.header('location')!).pathname;
          const accepted: Buffer[] = [];
          for (const [header, bytes] of chunks) {
            const body = Buffer.from(bytes);
            const reply = await api('PATCH', path, { body, headers: { 'Content-Range': header } });
            assertSane(reply, `Content-Range: ${header}`);
            assert.ok(
              [202, 400, 416].includes(reply.status),
              `Content-Range: ${header}: ${reply.status} ${reply.text()}`,
            );
            if (reply.status === 202) accepted.push(body);
          }
          const content = Buffer.concat(accepted);
          const status = await api('GET', path);
          assert.equal(status.header('range'), `0-${Math.max(content.length - 1, 0)}`);
          const done = await api('PUT', `${path}?digest=${sha256(content)}`);
          assert.equal(done.status, 201, done.text());
        },
      ),
      { numRuns: 100, seed: SEED },
    );
  });

  it('query parameters: pagination, tags, mounts and filters never break a listing', async () => {
    const value = fc.oneof(
      pathText.map(encodeURIComponent),
      fc.string({ maxLength: 30 }).map(encodeURIComponent),
      fc.constantFrom('-1', '0', '1', '1e20', '1e3', '0x10', ''),
    );
    const key = fc.constantFrom(
      'n',
      'last',
      'tag',
      'mount',
      'from',
      'digest',
      'artifactType',
      'digest-algorithm',
      'n[]',
      '',
    );
    const query = fc
      .array(fc.tuple(key, value), { maxLength: 5 })
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));
    const target = fc.constantFrom(
      '/v2/_catalog',
      '/v2/good/repo/tags/list',
      `/v2/good/repo/referrers/${image?.digest ?? UNKNOWN_DIGEST}`,
      '/v2/good/repo/blobs/uploads/',
    );
    await fc.assert(
      fc.asyncProperty(target, query, async (path, text) => {
        const method = path.endsWith('/uploads/') ? 'POST' : 'GET';
        const reply = await api(method, `${path.replace(UNKNOWN_DIGEST, image.digest)}?${text}`);
        assertSane(reply, `${method} ${path}?${text}`);
        if (reply.status === 200 && path === '/v2/_catalog') assert.ok(Array.isArray(reply.json().repositories));
      }),
      { numRuns: 250, seed: SEED },
    );
  });

  it('manifest bodies: wrong types, deep nesting, huge arrays, duplicate keys and invalid UTF-8 are refused with 4xx', async () => {
    const descriptor = { mediaType: OCI_CONFIG, digest: image.config.digest, size: image.config.content.length };
    const anyJson = fc.jsonValue({ maxDepth: 3 });
    const wrongTypes = fc
      .record(
        {
          schemaVersion: fc.oneof(fc.constant(2), anyJson),
          mediaType: fc.oneof(fc.constantFrom(OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST), anyJson),
          config: fc.oneof(
            fc.constant(descriptor),
            anyJson,
            fc.record({ mediaType: anyJson, digest: anyJson, size: anyJson }),
          ),
          layers: fc.oneof(anyJson, fc.array(fc.oneof(anyJson, fc.constant(descriptor)), { maxLength: 4 })),
          manifests: fc.oneof(anyJson, fc.array(anyJson, { maxLength: 4 })),
          subject: anyJson,
          annotations: anyJson,
          artifactType: anyJson,
        },
        { requiredKeys: [] },
      )
      .map((body) => Buffer.from(JSON.stringify(body)));
    const deep = fc
      .tuple(fc.integer({ min: 1000, max: 100_000 }), fc.constantFrom('[', '{"a":'))
      .map(([depth, open]) => {
        const close = open === '[' ? ']' : '}';
        return Buffer.from(
          `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${open.repeat(depth)}1${close.repeat(depth)}]}`,
        );
      });
    const huge = fc.integer({ min: 1000, max: 20_000 }).map((count) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: descriptor,
          layers: Array.from({ length: count }, (_, index) => ({
            mediaType: OCI_LAYER,
            digest: `sha256:${index.toString(16).padStart(64, '0')}`,
            size: index,
          })),
        }),
      ),
    );
    const duplicates = fc
      .constantFrom(
        `{"schemaVersion":2,"schemaVersion":1,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor)},"layers":[]}`,
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","mediaType":"${OCI_INDEX}","manifests":[],"config":${JSON.stringify(descriptor)},"layers":[]}`,
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor)},"config":{},"layers":[]}`,
      )
      .map((text) => Buffer.from(text));
    const invalidUtf8 = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat({ max: 60 }))
      .map(([junk, at]) => {
        const text = Buffer.from(
          `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[],"annotations":{"k":"vvvvvvvvvv"}}`,
        );
        const bad = Buffer.from(junk).map((byte) => byte | 0x80); // high bytes, mostly not valid sequences
        return Buffer.concat([text.subarray(0, at), Buffer.from([0xff, 0xfe]), bad, text.subarray(at)]);
      });
    const raw = fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(wrongTypes, deep, huge, duplicates, invalidUtf8, raw),
        fc.constantFrom(OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, 'application/json', 'text/plain'),
        async (body, type) => {
          const reply = await api('PUT', '/v2/good/bodies/manifests/latest', {
            body,
            headers: { 'Content-Type': type },
          });
          assertSane(reply, `PUT ${body.length} bytes`);
          if (reply.status === 201) {
            // Accepted only when it is a valid manifest whose blobs are present: read it back byte for byte.
            const back = await api('GET', '/v2/good/bodies/manifests/latest', { headers: { Accept: '*/*' } });
            assert.deepEqual(back.body, body);
          }
        },
      ),
      { numRuns: 150, seed: SEED },
    );
    assert.deepEqual(outside(), outsideBefore);
  });

  it('is still serving, with everything beside the root untouched', async () => {
    assert.equal((await api('GET', '/v2/')).status, 200);
    assert.equal(
      (await api('GET', '/v2/good/repo/manifests/v1', { headers: { Accept: image.mediaType } })).body.toString(),
      image.manifest.toString(),
    );
    assert.deepEqual(outside(), outsideBefore);
  });
});

describe('explicit traversal attempts beyond names', () => {
  let parent: string;
  let server: TestBerth;
  let api: Api;
  before(async () => {
    parent = tempDir('berth-traversal-');
    server = await startBerth({ root: join(parent, 'root') });
    api = client(server.url);
    await pushBlob(server.url, 'legit/repo', randomBlob(10));
  });
  after(async () => {
    await server.close();
    rmSync(parent, { recursive: true, force: true });
  });

  it('pagination markers, mount sources and digest queries that point outside stay inside', async () => {
    const before = listTree(parent);
    const requests: Array<[string, string]> = [
      ['GET', '/v2/_catalog?n=5&last=../../../../etc'],
      ['GET', '/v2/_catalog?last=%2e%2e%2f%2e%2e'],
      ['GET', '/v2/legit/repo/tags/list?last=..%2f..%2f..'],
      ['POST', `/v2/legit/repo/blobs/uploads/?mount=${UNKNOWN_DIGEST}&from=..%2f..%2f..`],
      ['POST', `/v2/legit/repo/blobs/uploads/?mount=sha256:..%2f..%2f..&from=legit/repo`],
      ['POST', '/v2/legit/repo/blobs/uploads/?digest=sha256:..%2f..%2f..%2fescape'],
      ['POST', '/v2/legit/repo/blobs/uploads/?digest-algorithm=..%2f..'],
      ['GET', `/v2/legit/repo/referrers/${UNKNOWN_DIGEST}?artifactType=..%2f..%2f..`],
      ['GET', '/v2/legit/repo/blobs/uploads/..%00'],
      ['GET', `/v2/${'a/'.repeat(200)}b/tags/list`],
      ['GET', `/v2/${'a'.repeat(5000)}/tags/list`],
    ];
    for (const [method, path] of requests) {
      const reply = await api(method, path, method === 'POST' ? { body: Buffer.from('escape') } : {});
      assert.ok(reply.status < 500, `${method} ${path.slice(0, 80)}: ${reply.status}`);
      if (reply.status >= 400) assertError(reply, reply.status, reply.json().errors[0].code, path.slice(0, 80));
    }
    // Upload folders come and go, the catalog index records when it last checked itself, and
    // storage accounting builds its records in the background: none is what this test looks for
    // (a name that escapes the storage root).
    const transient = (entry: string) =>
      entry.includes('_uploads/') ||
      entry.includes('.berth-tmp') ||
      entry.endsWith('_berth/catalog/state') ||
      entry.includes('_berth/usage/');
    const after = listTree(parent).filter((entry) => !transient(entry));
    assert.deepEqual(
      after,
      before.filter((entry) => !transient(entry)),
    );
  });
});

/**
 * `/v2/<name>/manifests/<reference>`: push (end-7a, end-7b), pull and existence checks (end-3),
 * deletion (end-9), for every manifest kind the registry stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import {
  DOCKER_CONFIG,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  imageConfig,
  makeImage,
  pushBlob,
  pushImage,
  randomBlob,
  sha256,
  sha512,
  type Blob,
} from '../helpers/content.js';
import { storedBlobDigests } from '../helpers/files.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { assertError, client, type Api, type HttpReply } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import {
  EMPTY_CONFIG,
  OCI_EMPTY,
  OCI_NONDISTRIBUTABLE_LAYER,
  blobDescriptor,
  describe as describeDoc,
  doc,
  imageDoc,
  makeArtifact,
  makeIndex,
  type Doc,
} from '../helpers/manifests.js';

const UNKNOWN = `sha256:${'0'.repeat(64)}`;

async function pushBlobs(url: string, name: string, blobs: Blob[]): Promise<void> {
  for (const blob of blobs) await pushBlob(url, name, blob);
}

function put(
  api: Api,
  name: string,
  reference: string,
  target: Doc,
  contentType = target.mediaType,
): Promise<HttpReply> {
  return api('PUT', `/v2/${name}/manifests/${reference}`, {
    body: target.bytes,
    headers: contentType ? { 'Content-Type': contentType } : {},
  });
}

/** Asserts a 201 push answer, then that GET and HEAD by tag and by digest serve the exact bytes. */
async function assertPushedAndServed(
  server: TestBerth,
  name: string,
  tag: string,
  target: Doc,
  pushed: HttpReply,
): Promise<void> {
  const api = client(server.url);
  assert.equal(pushed.status, 201, pushed.text());
  assert.equal(pushed.header('location'), `${server.url}/v2/${name}/manifests/${target.digest}`);
  assert.equal(pushed.header('docker-content-digest'), target.digest);
  assert.equal(pushed.header('content-length'), '0');
  for (const reference of [tag, target.digest]) {
    const reply = await api('GET', `/v2/${name}/manifests/${reference}`, { headers: { Accept: target.mediaType } });
    assert.equal(reply.status, 200, `GET ${reference}: ${reply.text()}`);
    assert.equal(reply.header('content-type'), target.mediaType, `GET ${reference}`);
    assert.equal(reply.header('docker-content-digest'), target.digest);
    assert.equal(reply.header('content-length'), String(target.bytes.length));
    assert.equal(reply.header('etag'), `"${target.digest}"`);
    assert.ok(reply.body.equals(target.bytes), `GET ${reference} returns the pushed bytes`);
    assert.equal(sha256(reply.body), target.digest);

    const head = await api('HEAD', `/v2/${name}/manifests/${reference}`);
    assert.equal(head.status, 200);
    assert.equal(head.header('content-type'), target.mediaType);
    assert.equal(head.header('docker-content-digest'), target.digest);
    assert.equal(head.header('content-length'), String(target.bytes.length));
    assert.equal(head.body.length, 0);
  }
}

describe('manifests', () => {
  let server: TestBerth;
  let api: Api;
  before(async () => {
    // Layers fetched from elsewhere are refused unless their URLs are allowed, as in Distribution.
    server = await startBerth({
      config: { validation: { manifests: { urls: { allow: ['^https://example\\.com/'] } } } },
    });
    api = client(server.url);
  });
  after(() => server.close());

  describe('kinds, stored and served byte for byte', () => {
    it('Docker image manifest v2 schema 2', async () => {
      const image = makeImage({ mediaType: DOCKER_MANIFEST });
      await pushBlobs(server.url, 'kinds/docker', [image.config, ...image.layers]);
      const target = imageDoc(image);
      await assertPushedAndServed(server, 'kinds/docker', 'v1', target, await put(api, 'kinds/docker', 'v1', target));
    });

    it('Docker manifest list', async () => {
      const amd = makeImage({ mediaType: DOCKER_MANIFEST, architecture: 'amd64' });
      const arm = makeImage({ mediaType: DOCKER_MANIFEST, architecture: 'arm64' });
      await pushImage(server.url, 'kinds/list', 'amd64', amd);
      await pushImage(server.url, 'kinds/list', 'arm64', arm);
      const list = makeIndex(
        [
          describeDoc(imageDoc(amd), { platform: { architecture: 'amd64', os: 'linux' } }),
          describeDoc(imageDoc(arm), { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } }),
        ],
        { mediaType: DOCKER_LIST },
      );
      await assertPushedAndServed(server, 'kinds/list', 'multi', list, await put(api, 'kinds/list', 'multi', list));
    });

    it('OCI image manifest', async () => {
      const image = makeImage();
      await pushBlobs(server.url, 'kinds/oci', [image.config, ...image.layers]);
      const target = imageDoc(image);
      await assertPushedAndServed(server, 'kinds/oci', 'v1', target, await put(api, 'kinds/oci', 'v1', target));
    });

    it('OCI image manifest without a mediaType field, typed by its Content-Type', async () => {
      const config = imageConfig();
      const layer = randomBlob(100);
      await pushBlobs(server.url, 'kinds/bare', [config, layer]);
      const target = doc(
        { schemaVersion: 2, config: blobDescriptor(config, OCI_CONFIG), layers: [blobDescriptor(layer, OCI_LAYER)] },
        OCI_MANIFEST,
      );
      await assertPushedAndServed(server, 'kinds/bare', 'v1', target, await put(api, 'kinds/bare', 'v1', target));
    });

    it('OCI image index, and an index of indexes', async () => {
      const image = makeImage();
      await pushImage(server.url, 'kinds/index', 'image', image);
      const inner = makeIndex([describeDoc(imageDoc(image), { platform: { architecture: 'amd64', os: 'linux' } })]);
      await assertPushedAndServed(server, 'kinds/index', 'inner', inner, await put(api, 'kinds/index', 'inner', inner));
      const outer = makeIndex([describeDoc(inner)], { extra: { annotations: { 'org.example.level': 'outer' } } });
      await assertPushedAndServed(server, 'kinds/index', 'outer', outer, await put(api, 'kinds/index', 'outer', outer));
    });

    it('an artifact: artifactType and the empty config', async () => {
      const payload = randomBlob(300);
      await pushBlobs(server.url, 'kinds/artifact', [EMPTY_CONFIG, payload]);
      const artifact = makeArtifact({
        artifactType: 'application/vnd.example.sbom.v1',
        layers: [blobDescriptor(payload, 'application/vnd.example.sbom.layer.v1+json')],
      });
      const pushed = await put(api, 'kinds/artifact', 'sbom', artifact);
      await assertPushedAndServed(server, 'kinds/artifact', 'sbom', artifact, pushed);
      assert.equal(pushed.header('oci-subject'), undefined);
    });

    it('a manifest with a subject answers with OCI-Subject, even when the subject is not there yet', async () => {
      await pushBlobs(server.url, 'kinds/subject', [EMPTY_CONFIG]);
      const absent = doc({ schemaVersion: 2, mediaType: OCI_MANIFEST, note: 'never pushed' }, OCI_MANIFEST);
      const artifact = makeArtifact({ artifactType: 'application/vnd.example.signature.v1', subject: absent });
      const pushed = await put(api, 'kinds/subject', 'sig', artifact);
      await assertPushedAndServed(server, 'kinds/subject', 'sig', artifact, pushed);
      assert.equal(pushed.header('oci-subject'), absent.digest);

      const index = makeIndex([], { extra: { subject: describeDoc(absent) } });
      const indexPushed = await put(api, 'kinds/subject', 'index', index);
      assert.equal(indexPushed.status, 201, indexPushed.text());
      assert.equal(indexPushed.header('oci-subject'), absent.digest);
    });

    it('descriptors with data fields, custom unknown fields, and odd whitespace and key order', async () => {
      await pushBlobs(server.url, 'kinds/odd', [EMPTY_CONFIG]);
      const config = `{"size":2,"data":"e30=","digest":"${EMPTY_CONFIG.digest}","mediaType":"${OCI_EMPTY}"}`;
      const text = `\n{ "layers" : [ ],\t"x-custom": {"z": [1, 2.50, true, null], "a": "\\u00e9\\n"},\r\n  "config":${config},"schemaVersion":2 ,"mediaType" :"${OCI_MANIFEST}", "annotations":{"b":"2","a":"1"}}\n\n`;
      const target = doc(text, OCI_MANIFEST);
      assert.notEqual(target.bytes.toString(), JSON.stringify(JSON.parse(text)));
      await assertPushedAndServed(server, 'kinds/odd', 'odd', target, await put(api, 'kinds/odd', 'odd', target));
    });

    it('an image with no layers at all', async () => {
      const config = imageConfig();
      await pushBlobs(server.url, 'kinds/empty', [config]);
      const target = doc(
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config: blobDescriptor(config, OCI_CONFIG), layers: [] },
        OCI_MANIFEST,
      );
      await assertPushedAndServed(server, 'kinds/empty', 'v1', target, await put(api, 'kinds/empty', 'v1', target));
    });

    it('a non-distributable layer with urls that was never pushed', async () => {
      const config = imageConfig();
      const layer = randomBlob(100);
      await pushBlobs(server.url, 'kinds/foreign', [config, layer]);
      const foreign = randomBlob(50);
      const target = doc(
        {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: blobDescriptor(config, OCI_CONFIG),
          layers: [
            blobDescriptor(foreign, OCI_NONDISTRIBUTABLE_LAYER, { urls: ['https://example.com/layer.tar.gz'] }),
            blobDescriptor(layer, OCI_LAYER),
          ],
        },
        OCI_MANIFEST,
      );
      await assertPushedAndServed(server, 'kinds/foreign', 'v1', target, await put(api, 'kinds/foreign', 'v1', target));
      assertError(await api('GET', `/v2/kinds/foreign/blobs/${foreign.digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('a manifest pushed by a sha512 digest', async () => {
      const image = makeImage();
      await pushBlobs(server.url, 'kinds/sha512', [image.config, ...image.layers]);
      const digest = sha512(image.manifest);
      const pushed = await api('PUT', `/v2/kinds/sha512/manifests/${digest}`, {
        body: image.manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      assert.equal(pushed.status, 201, pushed.text());
      assert.equal(pushed.header('docker-content-digest'), digest);
      assert.equal(pushed.header('location'), `${server.url}/v2/kinds/sha512/manifests/${digest}`);
      const pulled = await api('GET', `/v2/kinds/sha512/manifests/${digest}`);
      assert.equal(pulled.status, 200);
      assert.equal(pulled.header('docker-content-digest'), digest);
      assert.ok(pulled.body.equals(image.manifest));
    });

    it('serves an OCI manifest whatever the Accept header asks for', async () => {
      const image = makeImage();
      await pushImage(server.url, 'kinds/accept', 'v1', image);
      const reply = await api('GET', '/v2/kinds/accept/manifests/v1', { headers: { Accept: DOCKER_MANIFEST } });
      assert.equal(reply.status, 200);
      assert.equal(reply.header('content-type'), OCI_MANIFEST);
      assert.ok(reply.body.equals(image.manifest));
    });

    it('accepts parameters on the Content-Type and serves the bare media type', async () => {
      const image = makeImage({ layers: 1 });
      await pushBlobs(server.url, 'kinds/params', [image.config, ...image.layers]);
      const pushed = await put(api, 'kinds/params', 'v1', imageDoc(image), `${OCI_MANIFEST}; charset=utf-8`);
      assert.equal(pushed.status, 201, pushed.text());
      assert.equal((await api('GET', '/v2/kinds/params/manifests/v1')).header('content-type'), OCI_MANIFEST);
    });
  });

  describe('conditional requests', () => {
    it('answers 304 to If-None-Match with the ETag, by tag and by digest', async () => {
      const image = makeImage({ layers: 1 });
      await pushImage(server.url, 'cond/image', 'v1', image);
      for (const reference of ['v1', image.digest]) {
        for (const method of ['GET', 'HEAD']) {
          const reply = await api(method, `/v2/cond/image/manifests/${reference}`, {
            headers: { 'If-None-Match': `"${image.digest}"` },
          });
          assert.equal(reply.status, 304, `${method} ${reference}`);
          assert.equal(reply.header('etag'), `"${image.digest}"`);
          assert.equal(reply.body.length, 0);
        }
      }
      const stale = await api('GET', '/v2/cond/image/manifests/v1', { headers: { 'If-None-Match': `"${UNKNOWN}"` } });
      assert.equal(stale.status, 200);
      assert.ok(stale.body.equals(image.manifest));
    });
  });

  describe('references that must exist', () => {
    it('refuses a manifest whose layer or config is missing with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const image = makeImage({ layers: 2 });
      await pushBlobs(server.url, 'refs/missing', [image.config, image.layers[0]!]);
      const reply = await put(api, 'refs/missing', 'v1', imageDoc(image));
      assertError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(reply.json().errors[0].detail, { digests: [image.layers[1]!.digest] });

      const noConfig = makeImage({ layers: 1, architecture: 'riscv64' });
      await pushBlobs(server.url, 'refs/missing', noConfig.layers);
      assertError(await put(api, 'refs/missing', 'v2', imageDoc(noConfig)), 400, 'MANIFEST_BLOB_UNKNOWN', 'config');
      assertError(await api('GET', '/v2/refs/missing/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
      assertError(await api('GET', `/v2/refs/missing/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('refuses blobs that only another repository holds', async () => {
      const image = makeImage({ layers: 1 });
      await pushBlobs(server.url, 'refs/holder', [image.config, ...image.layers]);
      assertError(await put(api, 'refs/borrower', 'v1', imageDoc(image)), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('refuses an index whose child manifest is missing, here or only elsewhere', async () => {
      const image = makeImage({ layers: 1 });
      await pushImage(server.url, 'refs/elsewhere', 'v1', image);
      const index = makeIndex([describeDoc(imageDoc(image))]);
      const reply = await put(api, 'refs/index', 'v1', index);
      assertError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(reply.json().errors[0].detail, { digests: [image.digest] });
      const list = makeIndex([describeDoc(imageDoc(makeImage({ mediaType: DOCKER_MANIFEST })))], {
        mediaType: DOCKER_LIST,
      });
      assertError(await put(api, 'refs/index', 'v2', list), 400, 'MANIFEST_BLOB_UNKNOWN', 'docker list');
    });
    it('refuses an index whose child was pushed as a blob, not as a manifest', async () => {
      const image = makeImage({ layers: 1 });
      await pushBlobs(server.url, 'refs/asblob', [
        image.config,
        ...image.layers,
        { digest: image.digest, content: image.manifest },
      ]);
      assertError(
        await put(api, 'refs/asblob', 'v1', makeIndex([describeDoc(imageDoc(image))])),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
    });
  });

  describe('invalid manifests', () => {
    const refusals: Array<[string, string | Buffer, string | undefined, RegExp?]> = [
      ['bad JSON', '{"schemaVersion": 2,', OCI_MANIFEST, /not valid JSON/],
      ['a JSON array', '[]', OCI_MANIFEST, /JSON object/],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), OCI_MANIFEST, /UTF-8/],
      ['no schemaVersion', `{"mediaType":"${OCI_INDEX}","manifests":[]}`, OCI_INDEX, /schemaVersion/],
      ['schemaVersion 3', `{"schemaVersion":3,"mediaType":"${OCI_INDEX}","manifests":[]}`, OCI_INDEX, /schemaVersion/],
      [
        'a mediaType that disagrees with the Content-Type',
        `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[]}`,
        OCI_MANIFEST,
        /does not match Content-Type/,
      ],
      [
        'Docker schema 1 by its schemaVersion',
        '{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[]}',
        'application/json',
        /schema 1 is not supported/,
      ],
      [
        'Docker schema 1 by its media type',
        '{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[]}',
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
        /schema 1 is not supported/,
      ],
      [
        'Docker schema 1 by its unsigned media type',
        '{}',
        'application/vnd.docker.distribution.manifest.v1+json',
        /schema 1 is not supported/,
      ],
      [
        'an unsupported media type',
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}',
        undefined,
        /unsupported manifest media type/,
      ],
      [
        'an image without config',
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","layers":[]}`,
        OCI_MANIFEST,
        /config/,
      ],
      [
        'a layer digest that is not a digest',
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_EMPTY}","digest":"${EMPTY_CONFIG.digest}","size":2},"layers":[{"mediaType":"${OCI_LAYER}","digest":"sha256:xyz","size":1}]}`,
        OCI_MANIFEST,
        /digest/,
      ],
      [
        'a negative size',
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_EMPTY}","digest":"${EMPTY_CONFIG.digest}","size":-2},"layers":[]}`,
        OCI_MANIFEST,
        /size/,
      ],
      [
        'annotations that are not strings',
        `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[],"annotations":{"a":1}}`,
        OCI_INDEX,
        /annotations/,
      ],
    ];
    for (const [what, body, contentType, message] of refusals) {
      it(`refuses ${what} with 400 MANIFEST_INVALID`, async () => {
        const before = storedBlobDigests(server.root);
        const reply = await api('PUT', '/v2/invalid/manifests/v1', {
          body,
          headers: contentType ? { 'Content-Type': contentType } : {},
        });
        assertError(reply, 400, 'MANIFEST_INVALID');
        if (message) assert.match(reply.json().errors[0].message, message);
        assert.deepEqual(storedBlobDigests(server.root), before, 'nothing stored');
        assertError(await api('GET', '/v2/invalid/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
      });
    }

    it('refuses a push to a malformed tag with 400 MANIFEST_INVALID; reads and deletes of one find nothing (404)', async () => {
      const index = makeIndex([]);
      for (const tag of ['-dash', '.dot', 'a'.repeat(129)]) {
        assertError(await put(api, 'invalid', tag, index), 400, 'MANIFEST_INVALID', `PUT ${tag}`);
        for (const method of ['GET', 'HEAD', 'DELETE'])
          assertError(await api(method, `/v2/invalid/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN', `${method} ${tag}`);
      }
      // An encoded "/" never reaches the route: the request-target parser refuses it.
      assertError(await put(api, 'invalid', 'tag%2fslash', index), 400, 'UNSUPPORTED', 'PUT tag%2fslash');
      const longest = 'a'.repeat(128);
      assert.equal((await put(api, 'invalid', longest, index)).status, 201);
      assert.equal((await api('GET', `/v2/invalid/manifests/${longest}`)).status, 200);
    });
  });

  describe('size limit', () => {
    /** An index padded with an annotation to exactly `size` bytes. */
    function indexOfSize(size: number): Doc {
      const shell = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { pad: '' } });
      return doc(shell.replace('"pad":""', `"pad":"${'x'.repeat(size - shell.length)}"`), OCI_INDEX);
    }

    it('takes a manifest of exactly 4 MiB and refuses one byte more with 413', async () => {
      const limit = 4 * 1024 * 1024;
      const atLimit = indexOfSize(limit);
      assert.equal(atLimit.bytes.length, limit);
      assert.equal((await put(api, 'size/default', 'max', atLimit)).status, 201);
      const reply = await put(api, 'size/default', 'over', indexOfSize(limit + 1));
      assertError(reply, 413, 'MANIFEST_INVALID');
      assertError(await api('GET', '/v2/size/default/manifests/over'), 404, 'MANIFEST_UNKNOWN');
    });

    it('refuses an oversized manifest sent without Content-Length', async () => {
      const over = indexOfSize(4 * 1024 * 1024 + 10);
      const reply = await api('PUT', '/v2/size/default/manifests/chunked', {
        body: over.bytes,
        chunked: true,
        headers: { 'Content-Type': OCI_INDEX },
      });
      assertError(reply, 413, 'MANIFEST_INVALID');
    });
  });

  describe('tags given when pushing by digest', () => {
    it('answers 201 with OCI-Tag and every tag resolves', async () => {
      const image = makeImage({ layers: 1 });
      await pushBlobs(server.url, 'bydigest/image', [image.config, ...image.layers]);
      const reply = await api('PUT', `/v2/bydigest/image/manifests/${image.digest}?tag=a&tag=b&tag=1.2.3&tag=a`, {
        body: image.manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header('oci-tag'), 'a, b, 1.2.3');
      assert.equal(reply.header('docker-content-digest'), image.digest);
      for (const tag of ['a', 'b', '1.2.3']) {
        const pulled = await api('GET', `/v2/bydigest/image/manifests/${tag}`);
        assert.equal(pulled.status, 200, tag);
        assert.equal(pulled.header('docker-content-digest'), image.digest);
      }
      assert.deepEqual((await api('GET', '/v2/bydigest/image/tags/list')).json(), {
        name: 'bydigest/image',
        tags: ['1.2.3', 'a', 'b'],
      });
    });

    it('pushes by digest without tags and sends no OCI-Tag', async () => {
      const index = makeIndex([], { extra: { annotations: { untagged: 'yes' } } });
      const reply = await put(api, 'bydigest/untagged', index.digest, index);
      assert.equal(reply.status, 201);
      assert.equal(reply.header('oci-tag'), undefined);
      assert.equal((await api('GET', `/v2/bydigest/untagged/manifests/${index.digest}`)).status, 200);
      assert.deepEqual((await api('GET', '/v2/bydigest/untagged/tags/list')).json().tags, []);
    });

    it('refuses a body whose digest is not the one in the URL with 400 DIGEST_INVALID', async () => {
      const index = makeIndex([], { extra: { annotations: { n: '1' } } });
      const other = makeIndex([], { extra: { annotations: { n: '2' } } });
      const reply = await api('PUT', `/v2/bydigest/wrong/manifests/${other.digest}?tag=t`, {
        body: index.bytes,
        headers: { 'Content-Type': OCI_INDEX },
      });
      assertError(reply, 400, 'DIGEST_INVALID');
      assertError(await api('GET', `/v2/bydigest/wrong/manifests/${other.digest}`), 404, 'MANIFEST_UNKNOWN');
      assertError(await api('GET', `/v2/bydigest/wrong/manifests/${index.digest}`), 404, 'MANIFEST_UNKNOWN');
      assertError(await api('GET', '/v2/bydigest/wrong/manifests/t'), 404, 'MANIFEST_UNKNOWN');
    });

    it('refuses a malformed tag parameter, and tag parameters on a push by tag, with 400 MANIFEST_INVALID', async () => {
      const index = makeIndex([]);
      assertError(
        await api('PUT', `/v2/bydigest/bad/manifests/${index.digest}?tag=-x`, {
          body: index.bytes,
          headers: { 'Content-Type': OCI_INDEX },
        }),
        400,
        'MANIFEST_INVALID',
      );
      assertError(
        await api('PUT', `/v2/bydigest/bad/manifests/latest?tag=x`, {
          body: index.bytes,
          headers: { 'Content-Type': OCI_INDEX },
        }),
        400,
        'MANIFEST_INVALID',
      );
    });
  });

  describe('DELETE', () => {
    it('by digest: 202, then the manifest and every tag pointing at it answer 404', async () => {
      const image = makeImage({ layers: 1 });
      const other = makeImage({ layers: 1 });
      await pushImage(server.url, 'delete/digest', 'one', image);
      await pushImage(server.url, 'delete/digest', 'two', image);
      await pushImage(server.url, 'delete/digest', 'other', other);
      const reply = await api('DELETE', `/v2/delete/digest/manifests/${image.digest}`);
      assert.equal(reply.status, 202);
      assert.equal(reply.body.length, 0);
      for (const reference of [image.digest, 'one', 'two']) {
        assertError(await api('GET', `/v2/delete/digest/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN', reference);
        assert.equal((await api('HEAD', `/v2/delete/digest/manifests/${reference}`)).status, 404);
      }
      assert.equal((await api('GET', '/v2/delete/digest/manifests/other')).status, 200);
      assert.deepEqual((await api('GET', '/v2/delete/digest/tags/list')).json().tags, ['other']);
      assertError(await api('DELETE', `/v2/delete/digest/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN', 'again');
    });

    it('by tag: 202, only the tag goes and the digest still pulls', async () => {
      const image = makeImage({ layers: 1 });
      await pushImage(server.url, 'delete/tag', 'gone', image);
      await pushImage(server.url, 'delete/tag', 'stays', image);
      const reply = await api('DELETE', '/v2/delete/tag/manifests/gone');
      assert.equal(reply.status, 202);
      assertError(await api('GET', '/v2/delete/tag/manifests/gone'), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await api('GET', `/v2/delete/tag/manifests/${image.digest}`)).status, 200);
      assert.equal((await api('GET', '/v2/delete/tag/manifests/stays')).status, 200);
      assert.deepEqual((await api('GET', '/v2/delete/tag/tags/list')).json().tags, ['stays']);
      assertError(await api('DELETE', '/v2/delete/tag/manifests/gone'), 404, 'MANIFEST_UNKNOWN', 'again');
    });

    /**
     * Holds a DELETE by digest at one step (`hold` wraps a storage driver method), moves the
     * DELETEd manifest's tag to another manifest meanwhile, and checks the tag survives.
     */
    async function deleteWhileTagMoves(
      repository: string,
      hold: (driver: StorageDriver, paused: () => Promise<void>) => () => void,
    ): Promise<void> {
      const doomed = makeImage({ layers: 1 });
      const next = makeImage({ layers: 1 });
      await pushImage(server.url, repository, 'moving', doomed);
      await pushImage(server.url, repository, next.digest, next);
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const restore = hold(server.berth.registry.driver, async () => {
        entered();
        await gate;
      });
      // The move has reached the tag's write (queued behind the DELETE if it holds the tag's lock).
      const tags = server.berth.registry.tags;
      const tag = tags.tag;
      let moving = false;
      tags.tag = (name, tagged, digest) => {
        const writing = tag.call(tags, name, tagged, digest);
        if (name === repository && tagged === 'moving') moving = true;
        return writing;
      };
      try {
        const deletion = api('DELETE', `/v2/${repository}/manifests/${doomed.digest}`);
        await inside;
        const move = pushImage(server.url, repository, 'moving', next);
        await waitFor(() => moving, 'the move reaches the tag write');
        open();
        assert.equal((await deletion).status, 202);
        assert.equal((await move).status, 201);
      } finally {
        restore();
        tags.tag = tag;
      }
      const moved = await api('GET', `/v2/${repository}/manifests/moving`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(moved.status, 200, moved.text());
      assert.equal(moved.header('docker-content-digest'), next.digest);
      assertError(await api('GET', `/v2/${repository}/manifests/${doomed.digest}`), 404, 'MANIFEST_UNKNOWN');
    }

    it('by digest keeps a tag moved to another manifest while the tag was being removed', async () => {
      await deleteWhileTagMoves('delete/race1', (driver, paused) => {
        const original = driver.delete;
        driver.delete = async (path) => {
          if (path.endsWith('/_manifests/tags/moving')) await paused();
          return original.call(driver, path);
        };
        return () => (driver.delete = original);
      });
    });

    it('by digest keeps a tag moved to another manifest after the DELETE found it', async () => {
      await deleteWhileTagMoves('delete/race2', (driver, paused) => {
        const original = driver.getContent;
        let first = true;
        driver.getContent = async (path) => {
          const content = await original.call(driver, path);
          // The DELETE's first read of the tag: it names the doomed manifest then.
          if (first && path.endsWith('/_manifests/tags/moving/current/link')) {
            first = false;
            await paused();
          }
          return content;
        };
        return () => (driver.getContent = original);
      });
    });

    it('answers 404 MANIFEST_UNKNOWN for what was never there', async () => {
      assertError(await api('DELETE', `/v2/delete/none/manifests/${UNKNOWN}`), 404, 'MANIFEST_UNKNOWN');
      assertError(await api('DELETE', '/v2/delete/none/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('unknown manifests', () => {
    it('answers 404 MANIFEST_UNKNOWN by tag and by digest, and HEAD 404 without a body', async () => {
      const image = makeImage({ layers: 1 });
      await pushImage(server.url, 'unknown/repo', 'v1', image);
      for (const path of [
        '/v2/unknown/repo/manifests/v2',
        `/v2/unknown/repo/manifests/${UNKNOWN}`,
        '/v2/never/pushed/manifests/latest',
      ]) {
        assertError(await api('GET', path), 404, 'MANIFEST_UNKNOWN', path);
        const head = await api('HEAD', path);
        assert.equal(head.status, 404, path);
        assert.equal(head.body.length, 0);
      }
      // A manifest of another repository is unknown here, even by digest.
      assertError(await api('GET', `/v2/unknown/other/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('answers 404 MANIFEST_UNKNOWN to a read of a malformed digest, 400 DIGEST_INVALID to a push', async () => {
      assertError(await api('GET', '/v2/unknown/repo/manifests/sha256:abc'), 404, 'MANIFEST_UNKNOWN');
      const push = await api('PUT', '/v2/unknown/repo/manifests/sha256:abc', {
        body: '{}',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assertError(push, 400, 'DIGEST_INVALID');
    });
  });
});

describe('manifests with deletion disabled', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { storage: { delete: { enabled: false } } } })));
  after(() => server.close());

  it('answers 405 UNSUPPORTED to DELETE by digest and by tag, and keeps both', async () => {
    const api = client(server.url);
    const image = makeImage({ layers: 1 });
    await pushImage(server.url, 'kept/image', 'v1', image);
    assertError(await api('DELETE', `/v2/kept/image/manifests/${image.digest}`), 405, 'UNSUPPORTED');
    assertError(await api('DELETE', '/v2/kept/image/manifests/v1'), 405, 'UNSUPPORTED');
    assert.equal((await api('GET', '/v2/kept/image/manifests/v1')).status, 200);
  });
});

describe('manifest size limit from berth.manifestmaxsize', () => {
  let server: TestBerth;
  before(async () => (server = await startBerth({ config: { berth: { manifestmaxsize: 1024 } } })));
  after(() => server.close());

  it('takes 1024 bytes and refuses 1025 with 413', async () => {
    const api = client(server.url);
    const pad = (size: number) => {
      const shell = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { pad: '' } });
      return doc(shell.replace('"pad":""', `"pad":"${'x'.repeat(size - shell.length)}"`), OCI_INDEX);
    };
    assert.equal((await put(api, 'size/small', 'ok', pad(1024))).status, 201);
    assertError(await put(api, 'size/small', 'over', pad(1025)), 413, 'MANIFEST_INVALID');
  });
});

describe('manifest media types after a restart', () => {
  it('serves the Content-Type a manifest was pushed with, also for manifests without a mediaType field', async () => {
    const root = tempDir();
    try {
      const config = imageConfig();
      const dockerConfig = imageConfig('linux', 'arm64');
      const image = doc({ schemaVersion: 2, config: blobDescriptor(config, OCI_CONFIG), layers: [] }, OCI_MANIFEST);
      const index = doc({ schemaVersion: 2, manifests: [describeDoc(image)] }, OCI_INDEX);
      const docker = doc(
        {
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: blobDescriptor(dockerConfig, DOCKER_CONFIG),
          layers: [],
        },
        DOCKER_MANIFEST,
      );
      const list = makeIndex([describeDoc(docker)], { mediaType: DOCKER_LIST });
      const first = await startBerth({ root });
      const firstApi = client(first.url);
      await pushBlobs(first.url, 'restart/types', [config, dockerConfig]);
      for (const [tag, target] of [
        ['image', image],
        ['index', index],
        ['docker', docker],
        ['list', list],
      ] as const) {
        assert.equal((await put(firstApi, 'restart/types', tag, target)).status, 201, tag);
      }
      await first.close();
      const second = await startBerth({ root });
      try {
        const api = client(second.url);
        for (const [tag, target] of [
          ['image', image],
          ['index', index],
          ['docker', docker],
          ['list', list],
        ] as const) {
          const reply = await api('GET', `/v2/restart/types/manifests/${tag}`);
          assert.equal(reply.status, 200, tag);
          assert.equal(reply.header('content-type'), target.mediaType, tag);
          assert.ok(reply.body.equals(target.bytes), tag);
        }
      } finally {
        await second.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

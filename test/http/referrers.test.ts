/** `GET /v2/<name>/referrers/<digest>` (end-12a) with `artifactType` filtering (end-12b). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { jsonBlob, makeImage, OCI_INDEX, pushBlob, pushImage, type Image } from '../helpers/content.js';
import { repositoryPath } from '../helpers/files.js';
import { assertError, client, type Api } from '../helpers/http.js';
import {
  EMPTY_CONFIG,
  blobDescriptor,
  describe as describeDoc,
  imageDoc,
  makeArtifact,
  makeIndex,
  type Doc,
} from '../helpers/manifests.js';

const SBOM = 'application/vnd.example.sbom.v1';
const SIGNATURE_CONFIG = 'application/vnd.example.signature.config.v1+json';
const BUNDLE = 'application/vnd.example.bundle.v1';

interface Referrers {
  image: Image;
  sbom: Doc;
  signature: Doc;
  plainIndex: Doc;
  bundle: Doc;
}

/** An image and four referrers: an artifact, an image typed by its config, and two indexes. */
async function pushReferrers(url: string, name: string): Promise<Referrers> {
  const api = client(url);
  const image = makeImage({ layers: 1 });
  await pushImage(url, name, 'v1', image);
  const subject = imageDoc(image);
  const signatureConfig = jsonBlob({ signer: 'test', name });
  await pushBlob(url, name, EMPTY_CONFIG);
  await pushBlob(url, name, signatureConfig);
  const sbom = makeArtifact({
    artifactType: SBOM,
    subject,
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.sbom.format': 'json' },
  });
  const signature = makeArtifact({
    subject,
    config: blobDescriptor(signatureConfig, SIGNATURE_CONFIG),
    annotations: { 'org.example.fingerprint': 'abcd' },
  });
  const plainIndex = makeIndex([], {
    extra: { subject: describeDoc(subject), annotations: { 'org.example.kind': 'plain' } },
  });
  const bundle = makeIndex([describeDoc(sbom)], { extra: { artifactType: BUNDLE, subject: describeDoc(subject) } });
  for (const referrer of [sbom, signature, plainIndex, bundle]) {
    const reply = await api('PUT', `/v2/${name}/manifests/${referrer.digest}`, {
      body: referrer.bytes,
      headers: { 'Content-Type': referrer.mediaType },
    });
    assert.equal(reply.status, 201, reply.text());
    assert.equal(reply.header('oci-subject'), image.digest);
  }
  return { image, sbom, signature, plainIndex, bundle };
}

/** The descriptors the spec asks for, in the registry's order (by digest). */
function expectedDescriptors(referrers: Referrers): unknown[] {
  const { sbom, signature, plainIndex, bundle } = referrers;
  return [
    {
      ...describeDoc(sbom),
      artifactType: SBOM,
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.sbom.format': 'json' },
    },
    { ...describeDoc(signature), artifactType: SIGNATURE_CONFIG, annotations: { 'org.example.fingerprint': 'abcd' } },
    { ...describeDoc(plainIndex), annotations: { 'org.example.kind': 'plain' } },
    { ...describeDoc(bundle), artifactType: BUNDLE },
  ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

function emptyIndex(): unknown {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

describe('referrers', () => {
  let server: TestBerth;
  let api: Api;
  let referrers: Referrers;
  before(async () => {
    server = await startBerth();
    api = client(server.url);
    referrers = await pushReferrers(server.url, 'ref/app');
  });
  after(() => server.close());

  it('answers an empty image index for a digest nothing refers to', async () => {
    const other = makeImage({ layers: 1 });
    await pushImage(server.url, 'ref/app', 'lonely', other);
    for (const path of [`/v2/ref/app/referrers/${other.digest}`, `/v2/ref/nowhere/referrers/${other.digest}`]) {
      const reply = await api('GET', path);
      assert.equal(reply.status, 200, path);
      assert.equal(reply.header('content-type'), OCI_INDEX, path);
      assert.equal(reply.header('oci-filters-applied'), undefined);
      assert.equal(reply.header('link'), undefined);
      assert.deepEqual(reply.json(), emptyIndex(), path);
    }
  });

  it('lists every referrer with artifactType (its own, else its config mediaType) and annotations', async () => {
    const reply = await api('GET', `/v2/ref/app/referrers/${referrers.image.digest}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.header('content-type'), OCI_INDEX);
    assert.equal(reply.header('oci-filters-applied'), undefined);
    assert.deepEqual(reply.json(), {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: expectedDescriptors(referrers),
    });
  });

  it('does not list referrers from another repository', async () => {
    const reply = await api('GET', `/v2/ref/other/referrers/${referrers.image.digest}`);
    assert.deepEqual(reply.json(), emptyIndex());
  });

  it('filters on artifactType and says so with OCI-Filters-Applied', async () => {
    const cases: Array<[string, Doc[]]> = [
      [SBOM, [referrers.sbom]],
      [SIGNATURE_CONFIG, [referrers.signature]],
      [BUNDLE, [referrers.bundle]],
      ['application/vnd.example.none', []],
    ];
    for (const [artifactType, wanted] of cases) {
      const reply = await api(
        'GET',
        `/v2/ref/app/referrers/${referrers.image.digest}?artifactType=${encodeURIComponent(artifactType)}`,
      );
      assert.equal(reply.status, 200);
      assert.equal(reply.header('oci-filters-applied'), 'artifactType', artifactType);
      assert.equal(reply.header('content-type'), OCI_INDEX);
      const digests = (reply.json().manifests as Array<{ digest: string; artifactType: string }>).map(
        (entry) => entry.digest,
      );
      assert.deepEqual(
        digests,
        wanted.map((entry) => entry.digest),
        artifactType,
      );
    }
  });

  it('pages with n and a Link to the next page', async () => {
    const all = expectedDescriptors(referrers) as Array<{ digest: string }>;
    const first = await api('GET', `/v2/ref/app/referrers/${referrers.image.digest}?n=3`);
    assert.deepEqual(first.json().manifests, all.slice(0, 3));
    assert.equal(
      first.header('link'),
      `</v2/ref/app/referrers/${referrers.image.digest}?last=${encodeURIComponent(all[2]!.digest)}&n=3>; rel="next"`,
    );

    const seen: unknown[] = [];
    let path: string | undefined = `/v2/ref/app/referrers/${referrers.image.digest}?n=1`;
    while (path) {
      const reply = await api('GET', path);
      assert.equal(reply.status, 200);
      seen.push(...(reply.json().manifests as unknown[]));
      const link = reply.header('link');
      path = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
    }
    assert.deepEqual(seen, all);
  });

  it('keeps the filter in the Link of a filtered page', async () => {
    const extra = makeArtifact({ artifactType: SBOM, subject: imageDoc(referrers.image), annotations: { n: '2' } });
    assert.equal(
      (
        await api('PUT', `/v2/ref/app/manifests/${extra.digest}`, {
          body: extra.bytes,
          headers: { 'Content-Type': extra.mediaType },
        })
      ).status,
      201,
    );
    const sboms = [referrers.sbom.digest, extra.digest].sort();
    const type = encodeURIComponent(SBOM);
    const first = await api('GET', `/v2/ref/app/referrers/${referrers.image.digest}?artifactType=${type}&n=1`);
    assert.deepEqual(
      first.json().manifests.map((entry: { digest: string }) => entry.digest),
      [sboms[0]],
    );
    assert.equal(first.header('oci-filters-applied'), 'artifactType');
    const link = first.header('link')!;
    assert.equal(
      link,
      `</v2/ref/app/referrers/${referrers.image.digest}?artifactType=${type}&last=${encodeURIComponent(sboms[0]!)}&n=1>; rel="next"`,
    );
    const second = await api('GET', /^<([^>]+)>/.exec(link)![1]!);
    assert.deepEqual(
      second.json().manifests.map((entry: { digest: string }) => entry.digest),
      [sboms[1]],
    );
    assert.equal(second.header('link'), undefined);
    assert.equal((await api('DELETE', `/v2/ref/app/manifests/${extra.digest}`)).status, 202);
  });

  it('lists a referrer pushed before its subject', async () => {
    const later = makeImage({ layers: 1 });
    const artifact = makeArtifact({ artifactType: SBOM, subject: imageDoc(later) });
    assert.equal(
      (
        await api('PUT', `/v2/ref/app/manifests/early`, {
          body: artifact.bytes,
          headers: { 'Content-Type': artifact.mediaType },
        })
      ).status,
      201,
    );
    await pushImage(server.url, 'ref/app', 'later', later);
    const reply = await api('GET', `/v2/ref/app/referrers/${later.digest}`);
    assert.deepEqual(
      reply.json().manifests.map((entry: { digest: string }) => entry.digest),
      [artifact.digest],
    );
  });

  it('drops a deleted referrer from the list', async () => {
    const subject = makeImage({ layers: 1 });
    await pushImage(server.url, 'ref/deleting', 'v1', subject);
    await pushBlob(server.url, 'ref/deleting', EMPTY_CONFIG);
    const keep = makeArtifact({ artifactType: SBOM, subject: imageDoc(subject), annotations: { keep: 'yes' } });
    const drop = makeArtifact({ artifactType: SBOM, subject: imageDoc(subject), annotations: { keep: 'no' } });
    for (const referrer of [keep, drop]) {
      assert.equal(
        (
          await api('PUT', `/v2/ref/deleting/manifests/${referrer.digest}`, {
            body: referrer.bytes,
            headers: { 'Content-Type': referrer.mediaType },
          })
        ).status,
        201,
      );
    }
    assert.equal((await api('GET', `/v2/ref/deleting/referrers/${subject.digest}`)).json().manifests.length, 2);
    assert.equal((await api('DELETE', `/v2/ref/deleting/manifests/${drop.digest}`)).status, 202);
    const reply = await api('GET', `/v2/ref/deleting/referrers/${subject.digest}`);
    assert.deepEqual(
      reply.json().manifests.map((entry: { digest: string }) => entry.digest),
      [keep.digest],
    );
  });

  it('includes manifests listed under the referrers tag schema (sha256-<hex>)', async () => {
    const subject = makeImage({ layers: 1 });
    await pushImage(server.url, 'ref/legacy', 'v1', subject);
    await pushBlob(server.url, 'ref/legacy', EMPTY_CONFIG);
    const old = makeArtifact({
      artifactType: SBOM,
      subject: imageDoc(subject),
      annotations: { pushed: 'before the API' },
    });
    assert.equal(
      (
        await api('PUT', `/v2/ref/legacy/manifests/${old.digest}`, {
          body: old.bytes,
          headers: { 'Content-Type': old.mediaType },
        })
      ).status,
      201,
    );
    // As if it had been pushed before the registry kept a referrers index: only the tag knows it.
    rmSync(join(repositoryPath(server.root, 'ref/legacy'), '_referrers'), { recursive: true, force: true });
    assert.deepEqual((await api('GET', `/v2/ref/legacy/referrers/${subject.digest}`)).json(), emptyIndex());

    const tagIndex = makeIndex([describeDoc(old, { artifactType: SBOM })]);
    const tag = subject.digest.replace(':', '-');
    assert.equal(
      (
        await api('PUT', `/v2/ref/legacy/manifests/${tag}`, {
          body: tagIndex.bytes,
          headers: { 'Content-Type': OCI_INDEX },
        })
      ).status,
      201,
    );
    const reply = await api('GET', `/v2/ref/legacy/referrers/${subject.digest}`);
    assert.deepEqual(reply.json().manifests, [
      { ...describeDoc(old), artifactType: SBOM, annotations: { pushed: 'before the API' } },
    ]);
  });

  it('refuses an invalid digest with 400 DIGEST_INVALID and an invalid name with 400 NAME_INVALID', async () => {
    for (const digest of ['sha256:abc', 'latest', `md5:${'0'.repeat(32)}`]) {
      assertError(await api('GET', `/v2/ref/app/referrers/${digest}`), 400, 'DIGEST_INVALID', digest);
    }
    assertError(await api('GET', `/v2/Ref/referrers/${referrers.image.digest}`), 400, 'NAME_INVALID');
  });
});

describe('referrers across a restart', () => {
  it('lists the same referrers on a new server over the same root', async () => {
    const root = tempDir();
    try {
      const first = await startBerth({ root });
      let referrers: Referrers;
      try {
        referrers = await pushReferrers(first.url, 'ref/restart');
      } finally {
        await first.close();
      }
      const second = await startBerth({ root });
      try {
        const reply = await client(second.url)('GET', `/v2/ref/restart/referrers/${referrers.image.digest}`);
        assert.equal(reply.status, 200);
        assert.equal(reply.header('content-type'), OCI_INDEX);
        assert.deepEqual(reply.json(), {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: expectedDescriptors(referrers),
        });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * Berth over the Azure driver on Azurite, through the registry API and skopeo: OCI layouts
 * (one image with a 64 MiB layer) copied in and back out with identical digests, downloads
 * following the SAS redirect (and, in a second Berth, streamed through it); the container holds
 * Distribution's layout and no upload; chunked uploads of small chunks finish intact; the catalog
 * comes from the repository index; tags, deletes and garbage collection act on the container;
 * health reports the driver.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { startAzurite, type TestAzurite } from '../helpers/azurite.js';
import { client } from '../helpers/http.js';
import { makeImage, pushImage, sha256 } from '../helpers/content.js';
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js';
import { assertLayoutCopy, pullToLayout, pushLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { adminGc } from '../gc/support.js';

const MIB = 1024 * 1024;
const V2 = 'docker/registry/v2';

function storageOn(azurite: TestAzurite, container: string, redirect: boolean): Record<string, unknown> {
  return {
    filesystem: undefined,
    azure: azurite.azureConfig(container),
    redirect: { disable: !redirect },
    delete: { enabled: true },
    maintenance: { uploadpurging: { enabled: false } },
  };
}

describeWithTools('skopeo against Berth on Azure Blob Storage (Azurite)', [tools.skopeo()], () => {
  let azurite: TestAzurite;
  let container: string;
  let raw: ContainerClient;
  let redirecting: TestBerth;
  let streaming: TestBerth;
  let source: OciLayout;
  let layered: BuiltImage;
  let single: BuiltImage;
  const folders = tempFolders();
  const folder = folders.make;

  async function names(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const blob of raw.listBlobsFlat({ prefix })) found.push(blob.name);
    return found.sort();
  }

  before(async () => {
    azurite = await startAzurite();
    container = await azurite.createContainer();
    raw = azurite.service.getContainerClient(container);
    const gc = { berth: { gc: { graceperiod: '0s' } } };
    // Two instances over the same container: one redirects blob downloads, one streams them.
    redirecting = await startBerth({ config: { storage: storageOn(azurite, container, true), ...gc } });
    streaming = await startBerth({ config: { storage: storageOn(azurite, container, false), ...gc } });
    source = await OciLayout.create(folder('skopeo-azure-source-'));
    single = await source.writeImage({ label: 'single' });
    await source.tag(single.manifest, 'single');
    const layers = [await source.writeLayer({ 'hello.txt': 'hello from azure\n' })];
    layers.push(await source.writeRandomLayer(64 * MIB));
    layered = await source.writeImage({ layers, label: 'layered' });
    await source.tag(layered.manifest, 'layered');
  });

  after(async () => {
    await redirecting?.close();
    await streaming?.close();
    await azurite?.stop();
    await folders.removeAll();
  });

  it('copies an image with a 64 MiB layer in and back out with identical digests, redirected and streamed', async () => {
    await pushLayout(source.dir, 'layered', `${redirecting.host}/azure/layered:layered`);
    for (const berth of [redirecting, streaming]) {
      const out = folder('skopeo-azure-out-');
      await pullToLayout(`${berth.host}/azure/layered:layered`, out, 'layered');
      await assertLayoutCopy(source.dir, out, ['layered']);
    }
    const stored = await names(`${V2}/`);
    for (const { descriptor: layer } of layered.layers) {
      const hex = layer.digest.slice('sha256:'.length);
      assert.ok(stored.includes(`${V2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`), `blob ${layer.digest}`);
      assert.ok(stored.includes(`${V2}/repositories/azure/layered/_layers/sha256/${hex}/link`));
    }
    assert.ok(!stored.some((name) => name.includes('/_uploads/')), 'no upload is left');
    const big = layered.layers
      .map((layer) => layer.descriptor)
      .reduce((largest, layer) => (layer.size > largest.size ? layer : largest));
    const hex = big.digest.slice('sha256:'.length);
    const properties = await raw.getBlobClient(`${V2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`).getProperties();
    assert.equal(properties.contentLength, big.size);
    assert.equal(properties.blobType, 'BlockBlob');
    const redirect = await fetch(`${redirecting.url}/v2/azure/layered/blobs/${big.digest}`, { redirect: 'manual' });
    assert.equal(redirect.status, 307);
    assert.ok(redirect.headers.get('location')?.startsWith(`${azurite.serviceUrl}/${container}/${V2}/blobs/`));
  });

  it('lists tags and the catalog, and deletes, as against the filesystem driver', async () => {
    for (const tag of ['v1', 'v2']) await pushLayout(source.dir, 'single', `${streaming.host}/azure/ops:${tag}`);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${redirecting.host}/azure/ops:v1`]);
    assert.equal(sha256(raw.stdout), single.manifest.digest);
    const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${redirecting.host}/azure/ops`]);
    assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['v1', 'v2']);
    const catalog = (await (await fetch(`${streaming.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes('azure/ops'), JSON.stringify(catalog));
    assert.ok((await names('~berth/catalog/repositories/')).includes('~berth/catalog/repositories/azure/ops'));
    await skopeo(['delete', '--tls-verify=false', `docker://${redirecting.host}/azure/ops:v1`]);
    const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${streaming.host}/azure/ops:v2`], {
      allowFailure: true,
    });
    assert.notEqual(gone.code, 0, 'deleting the digest removed both of its tags');
  });

  it('collects the blobs of a deleted image from the container, keeping what is referenced', async () => {
    const kept = makeImage({ layers: 1 });
    const garbage = makeImage({ layers: 2 });
    await pushImage(streaming.url, 'azure/gc', 'kept', kept);
    await pushImage(streaming.url, 'azure/gc', 'gone', garbage);
    const api = client(streaming.url);
    assert.equal((await api('DELETE', `/v2/azure/gc/manifests/${garbage.digest}`)).status, 202);
    // Blob Storage times have one-second resolution: a blob written in the same second as the run
    // starts counts as young and is kept (the safe side). Start the run in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const report = await adminGc(redirecting.url);
    assert.ok(report.blobsDeleted >= 1 + garbage.layers.length, JSON.stringify(report));
    const stored = await names(`${V2}/blobs/`);
    const stores = (digest: string) => stored.some((name) => name.includes(digest.slice('sha256:'.length)));
    for (const layer of garbage.layers) assert.ok(!stores(layer.digest), `collected ${layer.digest}`);
    for (const layer of kept.layers) assert.ok(stores(layer.digest), `kept ${layer.digest}`);
    const pulled = await api('GET', `/v2/azure/gc/blobs/${kept.layers[0]!.digest}`);
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(kept.layers[0]!.content));
  });

  it('finishes a chunked upload of small chunks and serves it with ranges', async () => {
    const api = client(streaming.url);
    const content = randomBytes(9 * MIB + 17);
    const digest = sha256(content);
    const started = await api('POST', '/v2/azure/chunked/blobs/uploads/');
    assert.equal(started.status, 202);
    let location = started.header('location')!;
    const chunk = 700 * 1024;
    for (let offset = 0; offset < content.length; offset += chunk) {
      const part = content.subarray(offset, offset + chunk);
      const patched = await api('PATCH', location, {
        body: part,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + part.length - 1}`,
        },
      });
      assert.equal(patched.status, 202, patched.text());
      location = patched.header('location')!;
    }
    const done = await api('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
    assert.equal(done.status, 201, done.text());
    const whole = await api('GET', `/v2/azure/chunked/blobs/${digest}`);
    assert.ok(whole.body.equals(content));
    const ranged = await api('GET', `/v2/azure/chunked/blobs/${digest}`, {
      headers: { Range: 'bytes=5000000-5000099' },
    });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(content.subarray(5_000_000, 5_000_100)));
  });

  it('reports storage reachability at /_berth/health', async () => {
    const reply = await fetch(`${streaming.url}/_berth/health`);
    assert.equal(reply.status, 200);
    const body = (await reply.json()) as { checks: { storage: { status: string; driver: string } } };
    assert.deepEqual(body.checks.storage.status, 'ok');
    assert.equal(body.checks.storage.driver, 'azure');
  });
});

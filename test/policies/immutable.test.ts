/**
 * Immutable tags: a push moving a protected tag, or a delete removing it, is refused with DENIED
 * naming the rule (through the API and through skopeo); the same manifest pushed again, other
 * tags and other repositories are not affected; `berth tag-unlock` allows exactly one operation.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { berthCli, expectCode } from '../helpers/cli.js';
import { makeImage, pushImage, pushManifest, type Image } from '../helpers/content.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { writeConfig } from './support.js';

const RULES = { immutabletags: [{ repositories: 'prod/**', tags: ['v*'] }] };
const RULE = 'berth.immutabletags[0] (repositories prod/**; tags v*)';

async function refusal(response: Response): Promise<{ code: string; message: string; detail: unknown }> {
  assert.equal(response.status, 403);
  const body = (await response.json()) as { errors: Array<{ code: string; message: string; detail: unknown }> };
  assert.equal(body.errors[0]?.code, 'DENIED');
  return body.errors[0]!;
}

async function digestOf(server: TestBerth, name: string, tag: string): Promise<string | null> {
  const response = await fetch(`${server.url}/v2/${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return response.status === 200 ? response.headers.get('docker-content-digest') : null;
}

describe('immutable tags', () => {
  const folders = tempFolders();
  let server: TestBerth;
  let config: string;
  let first: Image;
  let second: Image;

  before(async () => {
    server = await startBerth({ root: folders.make('berth-immutable-'), config: { berth: RULES } });
    config = writeConfig(folders.make('berth-immutable-config-'), server.root, RULES);
    first = makeImage();
    second = makeImage();
    await pushImage(server.url, 'prod/api', 'v1', first);
    await pushImage(server.url, 'prod/api', second.digest, second);
  });

  after(async () => {
    await server.close();
    await folders.removeAll();
  });

  it('refuses moving a protected tag, naming the rule', async () => {
    const error = await refusal(await pushManifest(server.url, 'prod/api', 'v1', second.manifest, second.mediaType));
    assert.ok(error.message.includes(`tag prod/api:v1 is immutable and cannot be moved: ${RULE}`), error.message);
    assert.match(error.message, /berth tag-unlock prod\/api:v1/);
    assert.deepEqual(error.detail, { repository: 'prod/api', tag: 'v1', rule: RULE });
    // Also through ?tag= on a push by digest.
    await refusal(
      await fetch(`${server.url}/v2/prod/api/manifests/${second.digest}?tag=v1`, {
        method: 'PUT',
        body: second.manifest as unknown as BodyInit,
        headers: { 'Content-Type': second.mediaType },
      }),
    );
    assert.equal(await digestOf(server, 'prod/api', 'v1'), first.digest);
  });

  it('accepts the same manifest again, unprotected tags and other repositories', async () => {
    assert.equal((await pushManifest(server.url, 'prod/api', 'v1', first.manifest, first.mediaType)).status, 201);
    assert.equal((await pushManifest(server.url, 'prod/api', 'latest', first.manifest, first.mediaType)).status, 201);
    assert.equal((await pushManifest(server.url, 'prod/api', 'latest', second.manifest, second.mediaType)).status, 201);
    await pushImage(server.url, 'dev/api', 'v1', first);
    await pushImage(server.url, 'dev/api', 'v1', second);
    assert.equal(await digestOf(server, 'dev/api', 'v1'), second.digest);
  });

  it('refuses deleting a protected tag, or the manifest it names', async () => {
    const byTag = await refusal(await fetch(`${server.url}/v2/prod/api/manifests/v1`, { method: 'DELETE' }));
    assert.ok(byTag.message.includes('cannot be deleted'), byTag.message);
    await refusal(await fetch(`${server.url}/v2/prod/api/manifests/${first.digest}`, { method: 'DELETE' }));
    assert.equal(await digestOf(server, 'prod/api', 'v1'), first.digest);
    // An unprotected tag still deletes.
    assert.equal((await fetch(`${server.url}/v2/prod/api/manifests/latest`, { method: 'DELETE' })).status, 202);
  });

  it('berth tag-unlock allows one operation, then the rule holds again', async () => {
    const out = expectCode(await berthCli(['tag-unlock', config, 'prod/api:v1']), 0, 'tag-unlock').stdout;
    assert.match(out, /^prod\/api:v1 unlocked for one push or delete, until /);
    assert.equal((await pushManifest(server.url, 'prod/api', 'v1', second.manifest, second.mediaType)).status, 201);
    assert.equal(await digestOf(server, 'prod/api', 'v1'), second.digest);
    await refusal(await pushManifest(server.url, 'prod/api', 'v1', first.manifest, first.mediaType));

    expectCode(await berthCli(['tag-unlock', config, 'prod/api:v1']), 0, 'tag-unlock');
    assert.equal((await fetch(`${server.url}/v2/prod/api/manifests/v1`, { method: 'DELETE' })).status, 202);
    assert.equal(await digestOf(server, 'prod/api', 'v1'), null);
  });

  it('an unlock expires unused; a tag no rule protects cannot be unlocked', async () => {
    await pushManifest(server.url, 'prod/api', 'v2', first.manifest, first.mediaType);
    expectCode(await berthCli(['tag-unlock', config, 'prod/api:v2', '--for', '1ms']), 0, 'tag-unlock');
    await sleep(20);
    await refusal(await pushManifest(server.url, 'prod/api', 'v2', second.manifest, second.mediaType));
    const none = expectCode(await berthCli(['tag-unlock', config, 'dev/api:v1']), 2, 'tag-unlock of a free tag');
    assert.match(none.stderr, /matches no rule of berth.immutabletags/);
  });
});

describeWithTools('immutable tags through skopeo', [tools.skopeo()], () => {
  const folders = tempFolders();
  let server: TestBerth;

  before(async () => {
    server = await startBerth({ root: folders.make('berth-immutable-skopeo-'), config: { berth: RULES } });
  });

  after(async () => {
    await server.close();
    await folders.removeAll();
  });

  it('fails a push over an immutable tag with the rule in its message', async () => {
    const layout = await OciLayout.create(folders.make('berth-immutable-layout-'));
    await layout.tag((await layout.writeImage({ label: 'one' })).manifest, 'one');
    await layout.tag((await layout.writeImage({ label: 'two' })).manifest, 'two');
    const push = (tag: string) =>
      skopeo(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:${tag}`, `docker://${server.host}/prod/app:v1`], {
        allowFailure: true,
      });
    assert.equal((await push('one')).code, 0);
    const refused = await push('two');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /tag prod\/app:v1 is immutable and cannot be moved/);
    assert.ok(refused.stderr.includes(RULE), refused.stderr);
  });
});

/**
 * `berth cp` between OCI image layouts and registries: a multi-platform index and a single image
 * with a multi-megabyte layer go from a layout into Berth, from there into Berth with token auth,
 * into Distribution 2.8, and back out into a layout, which must then hold exactly the same
 * manifests and blobs (same digests). Copies within one registry mount instead of uploading;
 * copies to where the blobs are skip them; layouts written by skopeo are read, and layouts written
 * by berth are read by skopeo.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import { OciLayout as TestLayout, readRefs } from '../helpers/oci-layout.js';
import { assertLayoutCopy, skopeo } from '../helpers/skopeo.js';
import { berthTarget, berthTokenTarget, dockerRegistryTarget, USER, type RunningTarget } from '../helpers/targets.js';
import { describeWithTools, tools } from '../helpers/tools.js';

describeWithTools('berth cp between layouts, Berth and Distribution', [tools.distribution(), tools.skopeo()], () => {
  let folder: string;
  let source: string;
  let env: Record<string, string>;
  let berth: RunningTarget;
  let secured: RunningTarget;
  let distribution: RunningTarget;
  let indexDigest: string;
  let bigDigest: string;
  const cli = (...args: string[]) => berthInProcess(args, { env });

  before(async () => {
    folder = tempDir('berth-cp-');
    env = { DOCKER_CONFIG: join(folder, 'docker') };
    source = join(folder, 'source');
    const layout = await TestLayout.create(source);
    const index = await layout.writeIndex([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    await layout.tag(index.index, 'multi');
    const big = await layout.writeImage({
      layers: [await layout.writeRandomLayer(5 * 1024 * 1024), await layout.writeLayer({ 'a.txt': 'a' })],
    });
    await layout.tag(big.manifest, 'big');
    indexDigest = index.index.digest;
    bigDigest = big.manifest.digest;
    [berth, secured, distribution] = await Promise.all([
      berthTarget.start(),
      berthTokenTarget.start(),
      dockerRegistryTarget.start(),
    ]);
    expectCode(await cli('login', secured.host, '-u', USER.username, '-p', USER.password), 0, 'login');
  });
  after(async () => {
    await Promise.all([berth?.close(), secured?.close(), distribution?.close()]);
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('copies layout → Berth → Berth with token auth → Distribution → layout with identical digests', async () => {
    for (const tag of ['multi', 'big']) {
      const steps: Array<[string, string]> = [
        [`oci:${source}:${tag}`, `${berth.host}/team/app:${tag}`],
        [`${berth.host}/team/app:${tag}`, `${secured.host}/team/app:${tag}`],
        [`${secured.host}/team/app:${tag}`, `docker://${distribution.host}/team/app:${tag}`],
        [`${distribution.host}/team/app:${tag}`, `oci:${join(folder, 'out')}:${tag}`],
      ];
      for (const [from, to] of steps) {
        const result = expectCode(await cli('cp', from, to, '--json'), 0, `cp ${from} ${to}`).json();
        assert.equal(result.digest, tag === 'multi' ? indexDigest : bigDigest, `${from} → ${to}`);
        assert.equal(result.manifests, tag === 'multi' ? 3 : 1);
        assert.equal(result.blobs.mounted, 0);
      }
    }
    await assertLayoutCopy(source, join(folder, 'out'), ['multi', 'big']);
    for (const host of [berth.host, secured.host, distribution.host]) {
      const digest = expectCode(await cli('digest', `${host}/team/app:multi`), 0, 'digest').stdout.trim();
      assert.equal(digest, indexDigest, host);
    }
  });

  it('mounts blobs within one registry, and skips blobs the target already has', async () => {
    for (const host of [berth.host, secured.host, distribution.host]) {
      const mounted = expectCode(
        await cli('cp', `${host}/team/app:multi`, `${host}/other/app:copy`, '--json'),
        0,
        'cp within a registry',
      ).json();
      assert.equal(mounted.digest, indexDigest);
      assert.equal(mounted.blobs.uploaded, 0, host);
      assert.ok(mounted.blobs.mounted >= 4, `${host}: ${JSON.stringify(mounted.blobs)}`);
      const again = expectCode(
        await cli('cp', `${host}/team/app:multi`, `${host}/other/app:copy2`, '--json'),
        0,
        'cp again',
      ).json();
      assert.deepEqual({ uploaded: again.blobs.uploaded, mounted: again.blobs.mounted }, { uploaded: 0, mounted: 0 });
    }
    const human = expectCode(await cli('cp', `oci:${source}:big`, `${berth.host}/team/app:big-again`), 0, 'cp human');
    assert.match(
      human.stdout,
      /^Copied oci:.*:big to 127\.0\.0\.1:\d+\/team\/app:big-again\n {2}digest sha256:[0-9a-f]{64}\n {2}1 manifest; blobs: 0 copied \(0 B\), 0 mounted, 3 already there\n$/,
    );
    assert.equal(human.stderr, '', 'no progress bars without a terminal');
  });

  it('copies by digest, keeps the source tag when the destination has none, and writes untagged layout entries', async () => {
    const byDigest = join(folder, 'by-digest');
    expectCode(
      await cli('cp', `${berth.host}/team/app@${indexDigest}`, `oci:${byDigest}`),
      0,
      'cp by digest to a layout',
    );
    const index = JSON.parse(readFileSync(join(byDigest, 'index.json'), 'utf8'));
    assert.deepEqual(
      index.manifests.map((entry: { digest: string; annotations?: unknown }) => [entry.digest, entry.annotations]),
      [[indexDigest, undefined]],
    );
    const pushed = expectCode(
      await cli('cp', `oci:${byDigest}`, `${distribution.host}/team/by-digest`, '--json'),
      0,
      'cp untagged layout',
    ).json();
    assert.match(pushed.destination, /@sha256:/);
    expectCode(
      await cli('cp', `${berth.host}/team/app:multi`, `${distribution.host}/team/kept`),
      0,
      'cp without a destination tag',
    );
    assert.equal(
      expectCode(await cli('digest', `${distribution.host}/team/kept:multi`), 0, 'digest').stdout.trim(),
      indexDigest,
    );
  });

  it('reads layouts skopeo wrote and writes layouts skopeo reads', async () => {
    const written = join(folder, 'skopeo-written');
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${berth.host}/team/app:multi`,
      `oci:${written}:multi`,
    ]);
    const result = expectCode(
      await cli('cp', `oci:${written}:multi`, `${distribution.host}/from/skopeo:multi`, '--json'),
      0,
      'cp from a skopeo layout',
    ).json();
    assert.equal(result.digest, indexDigest);
    const raw = await skopeo(['inspect', '--raw', `oci:${join(folder, 'out')}:multi`]);
    const refs = await readRefs(join(folder, 'out'));
    assert.equal(refs.get('multi')?.digest, indexDigest);
    assert.equal(JSON.parse(raw.stdout).manifests.length, 2);
  });

  it('explains what is wrong: missing layout, missing tag, bad destination', async () => {
    const noLayout = expectCode(
      await cli('cp', `oci:${join(folder, 'nothing')}:x`, `${berth.host}/a:b`),
      3,
      'cp from a folder that is no layout',
    );
    assert.match(noLayout.stderr, /is not an OCI image layout.*\nhint: /);
    const noTag = expectCode(
      await cli('cp', `oci:${source}:nope`, `${berth.host}/a:b`),
      3,
      'cp of a missing layout tag',
    );
    assert.match(noTag.stderr, /has no image tagged "nope"\nhint: tags here: multi, big/);
    const ambiguous = expectCode(
      await cli('cp', `oci:${source}`, `${berth.host}/a:b`),
      2,
      'cp of a layout with several images, no tag',
    );
    assert.match(ambiguous.stderr, /holds 2 images: say which one/);
    expectCode(await cli('cp', `${berth.host}/team/app:nope`, `oci:${join(folder, 'x')}:y`), 3, 'cp of a missing tag');
    expectCode(await cli('cp', `${berth.host}/team/app:multi`, `${berth.host}/x@${indexDigest}`), 2, 'cp to a digest');
    const denied = expectCode(
      await berthInProcess(['cp', `${berth.host}/team/app:multi`, `${secured.host}/team/denied:x`], {
        env: { DOCKER_CONFIG: join(folder, 'nobody') },
      }),
      4,
      'cp without login',
    );
    assert.match(denied.stderr, /hint: .*berth login/);
  });
});

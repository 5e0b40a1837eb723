/**
 * podman 4 against a real Berth, with its own throwaway storage (`--storage-driver vfs` under a
 * temporary root, so nothing of the machine's is used or changed): an image loaded offline from
 * an OCI layout is pushed, removed locally and pulled back with the same image ID, layer diff IDs
 * and file contents; a manifest list made with `podman manifest` is pushed with --all and one
 * platform pulled back.
 *
 * podman present but unable to run here (no user namespaces, no writable storage, ...) skips the
 * suite with a loud message even under CI, naming what failed; podman absent fails under CI.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { podmanOptions } from '../helpers/podman.js';
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js';
import { describeUnless, describeWithTools, loudSkipMessage, run, tools, type RunResult } from '../helpers/tools.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX_TYPES =
  'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json';

/**
 * A folder whose path podman accepts: `podman pull oci:DIR` names the image after DIR, and image
 * names must be lower case (mkdtemp's suffix is not); podman refuses a runroot longer than 50
 * characters, so the name stays short.
 */
function lowerCaseTempDir(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Why podman cannot work in this sandbox, or undefined when `podman info` runs on a private store. */
function podmanCannotRun(): string | undefined {
  const root = lowerCaseTempDir('berth-pm-probe-');
  try {
    const result = spawnSync('podman', [...podmanOptions(root), 'info'], { encoding: 'utf8', timeout: 60_000 });
    if (result.error) return `podman info: ${result.error.message}`;
    if (result.status !== 0) return `podman info exited ${result.status}: ${(result.stderr || result.stdout).trim()}`;
    return undefined;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const podman = tools.podman();
const cannotRun = podman.available ? podmanCannotRun() : undefined;

if (cannotRun) {
  const message = `podman suite SKIPPED: podman is installed but cannot run in this environment: ${cannotRun}`;
  loudSkipMessage([message, 'This skip applies under CI=true too: it is the environment, not a missing package.']);
  describeUnless(message, 'podman against Berth', () => {});
} else {
  describeWithTools('podman against Berth', [podman], () => {
    let berth: TestBerth;
    let podmanRoot: string;
    let layout: OciLayout;
    let image: BuiltImage;
    const files = { 'hello.txt': `hello ${randomUUID()}\n`, 'etc/motd': 'second layer\n' };

    const podmanRun = (args: string[]): Promise<RunResult> =>
      run('podman', [...podmanOptions(podmanRoot), ...args], { timeout: 120_000 });

    before(async () => {
      berth = await startBerth();
      podmanRoot = lowerCaseTempDir('berth-pm-');
      layout = await OciLayout.create(lowerCaseTempDir('berth-podman-layout-'));
      image = await layout.writeImage({
        layers: [
          await layout.writeLayer({ 'hello.txt': files['hello.txt'] }),
          await layout.writeLayer({ 'etc/motd': files['etc/motd'] }),
        ],
        label: 'podman',
      });
      await layout.tag(image.manifest, 'app');
    });

    after(async () => {
      await berth.close();
      if (podmanRoot) {
        await run('podman', [...podmanOptions(podmanRoot), 'rmi', '--all', '--force'], {
          allowFailure: true,
          timeout: 60_000,
        });
        await rm(podmanRoot, { recursive: true, force: true });
      }
      if (layout) await rm(layout.dir, { recursive: true, force: true });
    });

    it('pushes an image to Berth and pulls it back with the same ID, layers and files', async () => {
      const imageId = image.config.digest.slice('sha256:'.length);
      const loaded = await podmanRun(['pull', `oci:${layout.dir}:app`]);
      assert.equal(
        loaded.stdout.trim().split('\n').pop(),
        imageId,
        'podman loads the layout image under its config digest',
      );

      await podmanRun(['push', '--tls-verify=false', imageId, `docker://${berth.host}/podman/app:v1`]);
      const manifest = await fetch(`${berth.url}/v2/podman/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(manifest.status, 200);
      const pushedDigest = manifest.headers.get('docker-content-digest');
      const pushed = (await manifest.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      assert.equal(pushed.config.digest, image.config.digest, 'the config is pushed unchanged');
      assert.equal(pushed.layers.length, 2);
      for (const layer of pushed.layers) {
        const head = await fetch(`${berth.url}/v2/podman/app/blobs/${layer.digest}`, { method: 'HEAD' });
        assert.equal(head.status, 200, `layer ${layer.digest}`);
      }

      await podmanRun(['rmi', '--all', '--force']);
      const pulled = await podmanRun(['pull', '--tls-verify=false', `${berth.host}/podman/app:v1`]);
      assert.equal(pulled.stdout.trim().split('\n').pop(), imageId, 'pulled back under the same image ID');
      const inspect = await podmanRun(['image', 'inspect', `${berth.host}/podman/app:v1`]);
      const [info] = JSON.parse(inspect.stdout) as Array<{
        Digest: string;
        RootFS: { Layers: string[] };
        Labels: Record<string, string>;
      }>;
      assert.ok(info);
      assert.equal(info.Digest, pushedDigest);
      assert.deepEqual(
        info.RootFS.Layers,
        image.layers.map((layer) => layer.diffId),
        'layer diff IDs',
      );
      assert.equal(info.Labels['test.label'], 'podman');

      const mounted = await podmanRun(['image', 'mount', `${berth.host}/podman/app:v1`]);
      const mountPoint = mounted.stdout.trim();
      try {
        for (const [name, content] of Object.entries(files)) {
          assert.equal(await readFile(join(mountPoint, name), 'utf8'), content, name);
        }
      } finally {
        await podmanRun(['image', 'unmount', `${berth.host}/podman/app:v1`]);
      }
    });

    it('pushes a two-platform manifest list with --all and pulls the arm64 image back', async () => {
      const amd64 = await layout.writeImage({ platform: { os: 'linux', architecture: 'amd64' }, label: 'amd64' });
      const arm64 = await layout.writeImage({ platform: { os: 'linux', architecture: 'arm64' }, label: 'arm64' });
      await layout.tag(amd64.manifest, 'amd64');
      await layout.tag(arm64.manifest, 'arm64');
      await podmanRun(['pull', `oci:${layout.dir}:amd64`]);
      await podmanRun(['pull', '--arch', 'arm64', `oci:${layout.dir}:arm64`]);
      await podmanRun(['manifest', 'create', 'localhost/berth-multi:v1']);
      for (const built of [amd64, arm64]) {
        await podmanRun([
          'manifest',
          'add',
          'localhost/berth-multi:v1',
          `containers-storage:${built.config.digest.slice('sha256:'.length)}`,
        ]);
      }
      await podmanRun([
        'manifest',
        'push',
        '--all',
        '--tls-verify=false',
        'localhost/berth-multi:v1',
        `docker://${berth.host}/podman/multi:v1`,
      ]);

      const list = await fetch(`${berth.url}/v2/podman/multi/manifests/v1`, { headers: { Accept: INDEX_TYPES } });
      assert.equal(list.status, 200);
      const index = (await list.json()) as {
        manifests: Array<{ digest: string; platform: { architecture: string; os: string } }>;
      };
      assert.deepEqual(index.manifests.map((entry) => `${entry.platform.os}/${entry.platform.architecture}`).sort(), [
        'linux/amd64',
        'linux/arm64',
      ]);
      for (const entry of index.manifests) {
        const child = await fetch(`${berth.url}/v2/podman/multi/manifests/${entry.digest}`, {
          headers: { Accept: OCI_MANIFEST },
        });
        assert.equal(child.status, 200, entry.digest);
        await child.arrayBuffer();
      }

      await podmanRun(['rmi', '--all', '--force']);
      const pulled = await podmanRun([
        'pull',
        '--tls-verify=false',
        '--arch',
        'arm64',
        `${berth.host}/podman/multi:v1`,
      ]);
      assert.equal(
        pulled.stdout.trim().split('\n').pop(),
        arm64.config.digest.slice('sha256:'.length),
        'the arm64 image',
      );
    });
  });
}

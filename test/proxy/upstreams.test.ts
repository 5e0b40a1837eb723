/**
 * `berth.proxy`: one Berth caching two upstreams next to its own repositories.
 *
 * - `docker.io` is a Berth with token auth (its own token server) and a pull budget of one
 *   manifest GET, standing in for Docker Hub: the cache signs in through the token flow, and
 *   once the budget is spent the upstream answers 429.
 * - `registry.test` is Debian's docker-registry, listed after a URL where nothing listens (so
 *   failover is used on every request), with a revalidation interval of an hour.
 *
 * Clients: containerd (`ctr images pull --hosts-dir`, sending `?ns=docker.io`), skopeo and podman
 * with a registries.conf mirror entry (path prefix `/v2/docker.io/…`), and plain HTTP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { containerdTool, startContainerd, writeHostsDir, type TestContainerd } from '../helpers/containerd.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { assertLayoutCopy, pullToLayout, pushLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, run, tools } from '../helpers/tools.js';
import { writeHtpasswd } from '../auth/support.js';
import { podmanOptions } from '../helpers/podman.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

const HUB_USER = 'hubuser';
const HUB_PASSWORD = 'hub-secret';

describeWithTools(
  'berth.proxy: several upstreams behind one endpoint',
  [tools.skopeo(), tools.distribution(), containerdTool()],
  () => {
    const folders = tempFolders();
    let hub: TestBerth;
    let distribution: TestDockerRegistry;
    let cache: TestBerth;
    let containerd: TestContainerd;
    let hello: UpstreamImage;
    let tool: UpstreamImage;
    let registriesConf: string;

    before(async () => {
      const images = folders.make('proxy-up-images-');
      const htpasswd = writeHtpasswd(folders.make('proxy-hub-auth-'), { [HUB_USER]: HUB_PASSWORD });
      hub = await startBerth({
        config: { berth: { auth: { htpasswd }, ratelimit: { pulls: '1/1h' } } },
      });
      hello = await pushUpstreamImage(hub, images, 'library/hello', 'v1', {
        push: ['--dest-creds', `${HUB_USER}:${HUB_PASSWORD}`],
      });
      distribution = await startUpstream();
      tool = await pushUpstreamImage(distribution, images, 'team/tool', 'v1');
      cache = await startBerth({
        config: {
          berth: {
            ratelimit: { pulls: '1000/1h' },
            proxy: {
              upstreams: {
                'docker.io': { urls: hub.url, username: HUB_USER, password: HUB_PASSWORD },
                'registry.test': { urls: ['http://127.0.0.1:1', distribution.url], revalidate: '1h' },
              },
            },
          },
        },
      });
      containerd = await startContainerd();
      registriesConf = join(folders.make('proxy-registries-'), 'registries.conf');
      writeFileSync(
        registriesConf,
        [
          'unqualified-search-registries = []',
          '[[registry]]',
          'prefix = "docker.io"',
          'location = "docker.io"',
          '[[registry.mirror]]',
          `location = "${cache.host}/docker.io"`,
          'insecure = true',
          '',
        ].join('\n'),
      );
    });

    after(async () => {
      await containerd?.close();
      await cache?.close();
      await hub?.close();
      await distribution?.close();
      await folders.removeAll();
    });

    it('containerd pulls docker.io/library/hello:v1 through the mirror (?ns=docker.io) and unpacks it', async () => {
      const hosts = writeHostsDir(folders.make('proxy-hosts-'), 'docker.io', `http://${cache.host}`);
      const pulled = await containerd.pull('docker.io/library/hello:v1', hosts);
      assert.equal(pulled.code, 0, `ctr pull: ${pulled.stderr}${pulled.stdout}`);
      const list = await containerd.ctr(['images', 'ls', '-q']);
      assert.match(list.stdout, /docker\.io\/library\/hello:v1/);
      const catalog = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['docker.io/library/hello'], 'one cache entry, named with its upstream');
    });

    it('the path prefix and Docker Hub’s library/ default reach the same cache, byte-identical', async () => {
      for (const name of ['docker.io/library/hello', 'docker.io/hello']) {
        const copy = folders.make('proxy-prefix-');
        await pullToLayout(`${cache.host}/${name}:v1`, copy, 'v1');
        await assertLayoutCopy(hello.layout, copy, ['v1']);
      }
      const catalog = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['docker.io/library/hello']);
    });

    it('skopeo and podman pull docker.io images through a registries.conf mirror entry', async () => {
      const copy = folders.make('proxy-regconf-');
      await skopeo([
        'copy',
        '--registries-conf',
        registriesConf,
        'docker://docker.io/library/hello:v1',
        `oci:${copy}:v1`,
      ]);
      await assertLayoutCopy(hello.layout, copy, ['v1']);
      const podman = tools.podman();
      if (!podman.available) return;
      const root = folders.make('proxy-podman-');
      const pulled = await run('podman', [...podmanOptions(root), 'pull', 'docker.io/library/hello:v1'], {
        env: { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf },
        allowFailure: true,
      });
      assert.equal(pulled.code, 0, `podman pull: ${pulled.stderr}`);
    });

    it('fails over to the next URL and revalidates a tag at most once per interval', async () => {
      for (let pull = 0; pull < 2; pull++) {
        const copy = folders.make('proxy-tool-');
        await pullToLayout(`${cache.host}/registry.test/team/tool:v1`, copy, 'v1');
        await assertLayoutCopy(tool.layout, copy, ['v1']);
      }
      await eventually(
        () => countRequests(distribution, 'GET', `/v2/team/tool/manifests/${tool.image.manifest.digest}`) === 1,
        'manifest fetched once',
      );
      assert.equal(countRequests(distribution, 'HEAD', '/v2/team/tool/manifests/v1'), 1, 'one HEAD in the interval');
      for (const digest of tool.blobs)
        assert.equal(countRequests(distribution, 'GET', `/v2/team/tool/blobs/${digest}`), 1, `${digest} once`);
    });

    it('repositories no upstream claims are ordinary push/pull repositories', async () => {
      await pushLayout(tool.layout, 'v1', `${cache.host}/team/own:v1`);
      const copy = folders.make('proxy-own-');
      await pullToLayout(`${cache.host}/team/own:v1`, copy, 'v1');
      await assertLayoutCopy(tool.layout, copy, ['v1']);
      const pushed = await skopeo(
        [
          'copy',
          '--dest-tls-verify=false',
          `oci:${tool.layout}:v1`,
          `docker://${cache.host}/docker.io/library/mine:v1`,
        ],
        { allowFailure: true },
      );
      assert.notEqual(pushed.code, 0, 'a cached repository takes no push');
    });

    it('rate limits count cached repositories as local ones', async () => {
      const response = await fetch(`${cache.url}/v2/docker.io/library/hello/manifests/v1`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('ratelimit-limit') ?? '', /^1000;w=3600$/);
    });

    it('an upstream answering 429 leaves the cached tag served; uncached content gets the 429', async () => {
      // The hub's one manifest GET was spent by the first pull. v1 now names a new image there.
      const images = folders.make('proxy-up-images-2-');
      const moved = await pushUpstreamImage(hub, images, 'library/hello', 'v1', {
        push: ['--dest-creds', `${HUB_USER}:${HUB_PASSWORD}`],
      });
      assert.notEqual(moved.image.manifest.digest, hello.image.manifest.digest);
      const stale = await fetch(`${cache.url}/v2/library/hello/manifests/v1?ns=docker.io`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(stale.status, 200);
      assert.equal(stale.headers.get('docker-content-digest'), hello.image.manifest.digest, 'the cached image');
      assert.match(stale.headers.get('warning') ?? '', /^110 /);
      const copy = folders.make('proxy-stale-');
      await pullToLayout(`${cache.host}/docker.io/library/hello:v1`, copy, 'v1');
      await assertLayoutCopy(hello.layout, copy, ['v1']);

      await pushUpstreamImage(hub, images, 'library/other', 'v1', {
        push: ['--dest-creds', `${HUB_USER}:${HUB_PASSWORD}`],
      });
      const uncached = await fetch(`${cache.url}/v2/docker.io/library/other/manifests/v1`);
      assert.equal(uncached.status, 429);
      assert.ok(Number(uncached.headers.get('retry-after')) > 0, 'Retry-After passed on');
      const body = (await uncached.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0]?.code, 'TOOMANYREQUESTS');
    });
  },
);

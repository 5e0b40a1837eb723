/**
 * Access rules see a cached repository under its one local name (`docker.io/library/hello`),
 * whether it was asked for with containerd's `?ns=docker.io` or with the path prefix: a user
 * whose rules do not name it is refused before anything is asked upstream.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import type { TestDockerRegistry } from '../helpers/docker-registry.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { writeHtpasswd } from '../auth/support.js';
import { countRequests, eventually, pushUpstreamImage, startUpstream, type UpstreamImage } from './support.js';

const basic = (user: string) => `Basic ${Buffer.from(`${user}:${user}-password`).toString('base64')}`;

describeWithTools('access rules on cached repositories', [tools.skopeo(), tools.distribution()], () => {
  const folders = tempFolders();
  let upstream: TestDockerRegistry;
  let cache: TestBerth;
  let image: UpstreamImage;

  before(async () => {
    upstream = await startUpstream();
    image = await pushUpstreamImage(upstream, folders.make('proxy-access-images-'), 'library/hello', 'v1');
    const path = writeHtpasswd(folders.make('proxy-access-auth-'), {
      alice: 'alice-password',
      bob: 'bob-password',
    });
    cache = await startBerth({
      config: {
        auth: { htpasswd: { realm: 'cache', path } },
        berth: {
          auth: {
            rules: [
              { users: ['alice'], repositories: ['docker.io/**'], actions: ['pull'] },
              { users: ['bob'], repositories: ['team/**'], actions: ['pull', 'push'] },
            ],
          },
          proxy: { upstreams: { 'docker.io': { urls: upstream.url } } },
        },
      },
    });
  });

  after(async () => {
    await cache?.close();
    await upstream?.close();
    await folders.removeAll();
  });

  it('refuses a user the rules do not give the cached repository, in both spellings, without asking upstream', async () => {
    for (const path of ['/v2/library/hello/manifests/v1?ns=docker.io', '/v2/docker.io/library/hello/manifests/v1']) {
      const refused = await fetch(`${cache.url}${path}`, { headers: { Authorization: basic('bob') } });
      assert.ok([401, 403].includes(refused.status), `${path}: ${refused.status}`);
      const body = (await refused.json()) as { errors: Array<{ code: string }> };
      assert.ok(['DENIED', 'UNAUTHORIZED'].includes(body.errors[0]?.code ?? ''), path);
    }
    assert.equal(countRequests(upstream, 'HEAD', '/v2/library/hello/manifests/v1'), 0, 'nothing asked upstream');
  });

  it('lets the user whose rule names docker.io/** pull it', async () => {
    const allowed = await fetch(`${cache.url}/v2/library/hello/manifests/v1?ns=docker.io`, {
      headers: { Authorization: basic('alice'), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('docker-content-digest'), image.image.manifest.digest);
    await eventually(
      () => countRequests(upstream, 'HEAD', '/v2/library/hello/manifests/v1') === 1,
      'asked upstream once the caller was allowed',
    );
  });
});

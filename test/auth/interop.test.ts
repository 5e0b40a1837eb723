/**
 * Real clients and the real Go registry against Berth's auth:
 *   - Debian's docker-registry (Distribution 2.8) with `auth.token` whose realm is Berth's token
 *     server and whose rootcertbundle is Berth's generated certificate accepts the tokens Berth
 *     issues (x5c, and kid alone in libtrust form), and refuses them for scopes the rules deny;
 *   - skopeo logs in and copies through the token flow (--dest-creds / --src-creds), to Berth and
 *     to the Go registry, and is refused where the rules say no;
 *   - podman logs in (good and bad passwords).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { makeImage } from '../helpers/content.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js';
import { skopeo } from '../helpers/skopeo.js';
import { describeWithTools, run, tools } from '../helpers/tools.js';
import { libtrustKeyId } from '../../src/auth/token/keys.js';
import { fetchToken, mint, parseChallenge, pushImageWith, withTokenFlow, writeHtpasswd } from './support.js';

const USERS = { alice: 'alice-pw', bob: 'bob-pw' };
const GO_SERVICE = 'go-registry';

describeWithTools(
  'Berth tokens with real clients and the Go registry',
  [tools.distribution(), tools.skopeo(), tools.podman()],
  () => {
    let berth: TestBerth;
    let go: TestDockerRegistry;
    let layout: OciLayout;
    let image: BuiltImage;
    let certificate: string;
    let authDir: string;

    before(async () => {
      const folder = tempDir('berth-auth-interop-');
      authDir = folder;
      const htpasswd = writeHtpasswd(folder, USERS);
      berth = await startBerth({
        root: join(folder, 'data'),
        config: {
          berth: {
            auth: {
              htpasswd,
              tokenserver: { services: [GO_SERVICE] },
              rules: [
                { users: ['alice'], repositories: ['team-a/**'], actions: ['*'] },
                { users: ['*'], repositories: ['${user}/**'], actions: ['*'] },
                { users: ['*'], registry: ['catalog'] },
              ],
            },
          },
        },
      });
      certificate = join(folder, 'data', 'berth', 'auth', 'token-signing.crt');
      go = await startDockerRegistry({
        token: { realm: `${berth.url}/auth/token`, service: GO_SERVICE, issuer: 'berth', rootcertbundle: certificate },
      });
      layout = await OciLayout.create(join(folder, 'layout'));
      image = await layout.writeImage({ label: 'auth-interop' });
      await layout.tag(image.manifest, 'v1');
    });
    after(async () => {
      await go?.close();
      await berth?.close();
    });

    it('the Go registry challenges with Berth as realm and accepts the tokens Berth issues', async () => {
      const first = await fetch(`${go.url}/v2/team-a/app/tags/list`);
      const challenge = parseChallenge(first.headers.get('www-authenticate'));
      assert.equal(challenge?.params.realm, `${berth.url}/auth/token`);
      assert.equal(challenge?.params.service, GO_SERVICE);
      const { body } = await fetchToken(
        `${berth.url}/auth/token`,
        { service: GO_SERVICE, scopes: ['repository:team-a/app:pull,push'] },
        ['alice', USERS.alice],
      );
      await pushImageWith(go.url, 'team-a/app', makeImage(), { Authorization: `Bearer ${body.token}` });
      const tags = await withTokenFlow(`${go.url}/v2/team-a/app/tags/list`, {}, ['alice', USERS.alice]);
      assert.equal(tags.status, 200);
      assert.deepEqual(await tags.json(), { name: 'team-a/app', tags: ['latest'] });
      const catalog = await withTokenFlow(`${go.url}/v2/_catalog`, {}, ['bob', USERS.bob]);
      assert.equal(catalog.status, 200, 'registry:catalog:* from Berth opens the Go registry catalog');
    });

    it('the Go registry refuses Berth tokens for scopes the rules deny', async () => {
      const { body } = await fetchToken(
        `${berth.url}/auth/token`,
        { service: GO_SERVICE, scopes: ['repository:team-a/app:pull,push'] },
        ['bob', USERS.bob],
      );
      const reply = await fetch(`${go.url}/v2/team-a/app/tags/list`, {
        headers: { Authorization: `Bearer ${body.token}` },
      });
      assert.equal(reply.status, 401);
      assert.equal(parseChallenge(reply.headers.get('www-authenticate'))?.params.error, 'insufficient_scope');
      const forBerth = await fetchToken(
        `${berth.url}/auth/token`,
        { service: 'berth', scopes: ['repository:team-a/app:pull'] },
        ['alice', USERS.alice],
      );
      const wrongAudience = await fetch(`${go.url}/v2/team-a/app/tags/list`, {
        headers: { Authorization: `Bearer ${forBerth.body.token}` },
      });
      assert.equal(wrongAudience.status, 401, 'a token for Berth is not a token for the Go registry');
    });

    it("the Go registry accepts a token naming Berth's key by libtrust kid alone", async () => {
      const privateKey = createPrivateKey(readFileSync(join(authDir, 'data', 'berth', 'auth', 'token-signing.key')));
      const token = await mint({
        key: privateKey,
        header: { kid: libtrustKeyId(createPublicKey(privateKey)) },
        iss: 'berth',
        aud: GO_SERVICE,
        sub: 'alice',
        access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }],
      });
      const reply = await fetch(`${go.url}/v2/team-a/app/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(reply.status, 200, await reply.text());
    });

    it('skopeo logs in and copies through the token flow, and is refused where the rules say no', async () => {
      const authfile = join(tempDir('berth-auth-skopeo-'), 'auth.json');
      const login = await skopeo([
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'alice',
        '-p',
        USERS.alice,
        berth.host,
      ]);
      assert.match(login.stdout, /Login Succeeded/);
      const badLogin = await skopeo(
        ['login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', 'wrong', berth.host],
        { allowFailure: true },
      );
      assert.notEqual(badLogin.code, 0);
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `alice:${USERS.alice}`,
        `oci:${layout.dir}:v1`,
        `docker://${berth.host}/team-a/tool:v1`,
      ]);
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        '--src-creds',
        `alice:${USERS.alice}`,
        '--dest-creds',
        `bob:${USERS.bob}`,
        `docker://${berth.host}/team-a/tool:v1`,
        `docker://${berth.host}/bob/tool:v1`,
      ]);
      const inspect = await skopeo([
        'inspect',
        '--tls-verify=false',
        '--creds',
        `bob:${USERS.bob}`,
        `docker://${berth.host}/bob/tool:v1`,
      ]);
      assert.equal(JSON.parse(inspect.stdout).Digest, image.manifest.digest);
      const denied = await skopeo(
        [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `bob:${USERS.bob}`,
          `oci:${layout.dir}:v1`,
          `docker://${berth.host}/team-a/tool:v2`,
        ],
        { allowFailure: true },
      );
      assert.notEqual(denied.code, 0, 'bob may not push to team-a');
      assert.match(denied.stderr, /unauthorized|denied|authentication required/i);
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `alice:${USERS.alice}`,
        `oci:${layout.dir}:v1`,
        `docker://${go.host}/team-a/tool:v1`,
      ]);
      const fromGo = await skopeo([
        'inspect',
        '--tls-verify=false',
        '--creds',
        `alice:${USERS.alice}`,
        `docker://${go.host}/team-a/tool:v1`,
      ]);
      assert.equal(JSON.parse(fromGo.stdout).Digest, image.manifest.digest);
    });

    it('podman logs in with good credentials and not with bad ones', async () => {
      const authfile = join(tempDir('berth-auth-podman-'), 'auth.json');
      const good = await run('podman', [
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'bob',
        '-p',
        USERS.bob,
        berth.host,
      ]);
      assert.match(good.stdout, /Login Succeeded/);
      const bad = await run(
        'podman',
        ['login', '--tls-verify=false', '--authfile', authfile, '-u', 'bob', '-p', 'nope', berth.host],
        { allowFailure: true },
      );
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid username\/password|unauthorized/i);
    });
  },
);

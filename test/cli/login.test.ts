/**
 * `berth login` and `berth logout` share credentials with skopeo through Docker's config.json
 * format (`skopeo --authfile`): what one writes, the other reads and removes. Against Berth with
 * token auth and Distribution 2.8 with htpasswd (Basic).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialStore } from '../../src/client/credentials.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { tempDir } from '../helpers/berth.js';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';
import { skopeo } from '../helpers/skopeo.js';
import { berthTokenTarget, dockerRegistryBasicTarget, USER, type RunningTarget } from '../helpers/targets.js';
import { describeWithTools, tools } from '../helpers/tools.js';

for (const target of [berthTokenTarget, dockerRegistryBasicTarget]) {
  const needed = target === dockerRegistryBasicTarget ? [tools.skopeo(), tools.distribution()] : [tools.skopeo()];
  describeWithTools(`berth login and skopeo share credentials on ${target.name}`, needed, () => {
    let running: RunningTarget;
    let folder: string;
    before(async () => {
      running = await target.start();
      folder = tempDir('berth-login-');
      const registry = new RegistryClient(running.host, { credentials: running.credentials! });
      await pushBuiltImage(registry, 'shared/app', 'v1', buildImage({ created: '2024-01-01T00:00:00Z' }));
      registry.close();
    });
    after(async () => {
      await running?.close();
      if (folder) rmSync(folder, { recursive: true, force: true });
    });

    it('skopeo reads what berth login wrote, and berth sees skopeo logout', async () => {
      const authfile = join(folder, 'from-berth.json');
      const login = expectCode(
        await berthInProcess([
          'login',
          '--authfile',
          authfile,
          running.host,
          '-u',
          USER.username,
          '-p',
          USER.password,
          '--json',
        ]),
        0,
        'berth login',
      );
      assert.deepEqual(login.json(), { registry: running.host, username: USER.username, authfile });
      const inspected = await skopeo([
        'inspect',
        '--authfile',
        authfile,
        '--tls-verify=false',
        `docker://${running.host}/shared/app:v1`,
      ]);
      assert.equal(JSON.parse(inspected.stdout).Architecture, 'amd64');
      await skopeo(['logout', '--authfile', authfile, running.host]);
      expectCode(
        await berthInProcess(['tags', '--authfile', authfile, `${running.host}/shared/app`]),
        4,
        'berth tags after skopeo logout',
      );
    });

    it('berth reads what skopeo login wrote, and skopeo sees berth logout', async () => {
      const authfile = join(folder, 'from-skopeo.json');
      await skopeo([
        'login',
        '--authfile',
        authfile,
        '--tls-verify=false',
        '-u',
        USER.username,
        '-p',
        USER.password,
        running.host,
      ]);
      assert.deepEqual(new CredentialStore(authfile).get(running.host), {
        username: USER.username,
        password: USER.password,
      });
      const tags = expectCode(
        await berthInProcess(['tags', '--authfile', authfile, `${running.host}/shared/app`]),
        0,
        'berth tags with skopeo credentials',
      );
      assert.equal(tags.stdout, 'v1\n');
      expectCode(await berthInProcess(['logout', '--authfile', authfile, running.host]), 0, 'berth logout');
      assert.deepEqual(JSON.parse(readFileSync(authfile, 'utf8')).auths, {});
      const denied = await skopeo(
        ['inspect', '--authfile', authfile, '--tls-verify=false', `docker://${running.host}/shared/app:v1`],
        { allowFailure: true },
      );
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /unauthorized|authentication required|401/i);
    });
  });
}

/**
 * `berth login/logout/catalog/tags/digest/inspect/rm` as a script sees them: exit codes, human
 * and `--json` output, errors with hints. Against Berth and Distribution 2.8, each without auth
 * and with Basic or Bearer auth (login first). The commands run in-process (see helpers/cli.ts);
 * test/cli/entry.test.ts runs the real executable.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../../src/client/registry-client.js';
import { tempDir } from '../helpers/berth.js';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import {
  buildImage,
  buildIndex,
  pushBuiltImage,
  pushBuiltIndex,
  type BuiltImage,
  type BuiltIndex,
} from '../helpers/images.js';
import { ALL_TARGETS, USER, type RunningTarget } from '../helpers/targets.js';
import { describeUnless } from '../helpers/tools.js';

for (const target of ALL_TARGETS) {
  const needsLogin = target.auth;
  describeUnless(target.missing(), `berth CLI registry commands against ${target.name}`, () => {
    let running: RunningTarget;
    let configDir: string;
    let env: Record<string, string>;
    let image: BuiltImage;
    let index: BuiltIndex;
    const cli = (...args: string[]) => berthInProcess(args, { env });

    before(async () => {
      running = await target.start();
      configDir = tempDir('berth-cli-config-');
      env = { DOCKER_CONFIG: configDir };
      const registry = new RegistryClient(running.host, { credentials: running.credentials ?? false });
      image = buildImage({ created: '2024-03-01T12:00:00Z', annotations: { 'org.example.team': 'core' } });
      index = buildIndex([
        buildImage({ created: '2024-03-02T00:00:00Z' }),
        buildImage({ architecture: 'arm64', created: '2024-03-02T00:00:00Z' }),
      ]);
      await pushBuiltImage(registry, 'cli/app', 'v1', image);
      await pushBuiltImage(registry, 'cli/app', 'v2', buildImage());
      await pushBuiltIndex(registry, 'cli/multi', 'latest', index);
      registry.close();
    });
    after(async () => {
      await running?.close();
      if (configDir) rmSync(configDir, { recursive: true, force: true });
    });

    if (needsLogin) {
      it('refuses to work before login (exit 4), refuses a wrong password, then logs in', async () => {
        const denied = expectCode(await cli('tags', `${running.host}/cli/app`), 4, 'tags before login');
        assert.match(denied.stderr, /^berth: /);
        assert.match(denied.stderr, /hint: .*berth login/);
        const wrong = expectCode(
          await cli('login', running.host, '-u', USER.username, '-p', 'not-the-password'),
          4,
          'login with a wrong password',
        );
        assert.match(wrong.stderr, /refused the credentials of "alice"/);
        assert.equal(existsSync(join(configDir, 'config.json')), false);
        const ok = expectCode(
          await cli('login', running.host, '--username', USER.username, '--password', USER.password),
          0,
          'login',
        );
        assert.match(ok.stdout, /Login Succeeded/);
        const saved = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'));
        assert.equal(
          saved.auths[running.host].auth,
          Buffer.from(`${USER.username}:${USER.password}`).toString('base64'),
        );
      });
    }

    it('lists repositories, tags and digests, as text and as JSON', async () => {
      const [catalog, catalogJson, tags, tagsJson, digest, digestJson] = [
        await cli('catalog', running.host),
        await cli('catalog', running.host, '--json', '--page-size', '1'),
        await cli('tags', `${running.host}/cli/app`),
        await cli('tags', `${running.host}/cli/app`, '--json'),
        await cli('digest', `${running.host}/cli/app:v1`),
        await cli('digest', `${running.host}/cli/multi`, '--json'),
      ];
      assert.deepEqual(expectCode(catalog, 0, 'catalog').stdout.trim().split('\n').sort(), ['cli/app', 'cli/multi']);
      assert.deepEqual(expectCode(catalogJson, 0, 'catalog --json').json(), {
        registry: running.host,
        repositories: ['cli/app', 'cli/multi'],
      });
      assert.deepEqual(expectCode(tags, 0, 'tags').stdout.trim().split('\n').sort(), ['v1', 'v2']);
      assert.deepEqual(expectCode(tagsJson, 0, 'tags --json').json().tags.sort(), ['v1', 'v2']);
      assert.equal(expectCode(digest, 0, 'digest').stdout, `${image.digest}\n`);
      assert.deepEqual(expectCode(digestJson, 0, 'digest --json').json(), {
        registry: running.host,
        repository: 'cli/multi',
        reference: 'latest',
        digest: index.digest,
      });
    });

    it('inspects images and indexes: platforms, layers, sizes, created, annotations', async () => {
      const [text, json, multi, multiJson, raw] = [
        await cli('inspect', `${running.host}/cli/app:v1`),
        await cli('inspect', `${running.host}/cli/app@${image.digest}`, '--json'),
        await cli('inspect', `${running.host}/cli/multi:latest`),
        await cli('inspect', `${running.host}/cli/multi:latest`, '--json'),
        await cli('inspect', `${running.host}/cli/app:v1`, '--raw'),
      ];
      const lines = expectCode(text, 0, 'inspect').stdout;
      assert.match(lines, new RegExp(`Digest: +${image.digest}`));
      assert.match(lines, /Platform: +linux\/amd64/);
      assert.match(lines, /Created: +2024-03-01T12:00:00Z/);
      assert.match(lines, /Layers: +2/);
      assert.match(lines, /org\.example\.team: core/);
      const details = expectCode(json, 0, 'inspect --json').json();
      assert.equal(details.kind, 'image');
      assert.equal(details.layers.length, 2);
      assert.equal(
        details.size,
        image.blobs.reduce((total, blob) => total + blob.content.length, 0),
      );
      assert.equal(details.created, '2024-03-01T12:00:00Z');
      assert.match(expectCode(multi, 0, 'inspect index').stdout, /Platforms: +2\n +linux\/amd64 .*\n +linux\/arm64 /);
      const multiDetails = expectCode(multiJson, 0, 'inspect index --json').json();
      assert.deepEqual(
        multiDetails.platforms.map((entry: { platform: string; digest: string }) => [entry.platform, entry.digest]),
        [
          ['linux/amd64', index.images[0]!.digest],
          ['linux/arm64', index.images[1]!.digest],
        ],
      );
      assert.equal(expectCode(raw, 0, 'inspect --raw').stdout, image.manifest.toString('utf8'));
    });

    it('exits 3 for what does not exist and 2 for bad input, saying what to do', async () => {
      const [missing, missingJson, badRef, noArgs, badOption] = [
        await cli('digest', `${running.host}/cli/app:nope`),
        await cli('inspect', `${running.host}/cli/nothing:here`, '--json'),
        await cli('digest', `${running.host}/Not A Ref`),
        await cli('tags'),
        await cli('catalog', running.host, '--page-size', 'many'),
      ];
      assert.match(
        expectCode(missing, 3, 'digest of a missing tag').stderr,
        /does not exist\nhint: list the tags with: berth tags/,
      );
      const error = JSON.parse(expectCode(missingJson, 3, 'inspect --json of a missing repository').stderr);
      assert.equal(error.error.kind, 'not-found');
      assert.match(expectCode(badRef, 2, 'bad reference').stderr, /invalid image reference/);
      expectCode(noArgs, 2, 'missing argument');
      assert.match(expectCode(badOption, 2, 'bad option value').stderr, /--page-size must be a whole number/);
    });

    it('rm resolves the tag to its digest and deletes the manifest; --untag only where tags can be deleted', async () => {
      const untag = await cli('rm', '--untag', `${running.host}/cli/app:v2`);
      if (running.deletesTags) {
        assert.match(expectCode(untag, 0, 'rm --untag').stdout, /Untagged .*cli\/app:v2/);
      } else {
        assert.match(
          expectCode(untag, 1, 'rm --untag on a registry without tag deletion').stderr,
          /cannot delete a tag.*\nhint: delete the manifest by digest/,
        );
      }
      const removed = expectCode(await cli('rm', `${running.host}/cli/app:v1`, '--json'), 0, 'rm');
      assert.deepEqual(removed.json(), {
        registry: running.host,
        repository: 'cli/app',
        reference: 'v1',
        digest: image.digest,
        deleted: 'manifest',
      });
      expectCode(await cli('digest', `${running.host}/cli/app:v1`), 3, 'digest after rm');
      expectCode(await cli('rm', `${running.host}/cli/app@${image.digest}`), 3, 'rm of a deleted digest');
    });

    if (needsLogin) {
      it('logout removes the credentials; the next command needs a login again', async () => {
        assert.match(expectCode(await cli('logout', running.host), 0, 'logout').stdout, /Removed the credentials/);
        assert.match(expectCode(await cli('logout', running.host), 0, 'second logout').stdout, /Not logged in/);
        expectCode(await cli('tags', `${running.host}/cli/multi`), 4, 'tags after logout');
      });
    }
  });
}

/**
 * `berth prune`: retention by newest N, patterns and age, with times from image configs or the
 * `org.opencontainers.image.created` annotation. On Berth (with and without token auth) and on
 * Distribution 2.8, `--dry-run` lists exactly what the real run then deletes, and nothing else
 * changes. A tag whose manifest a kept index still uses is only untagged (where the registry can
 * delete tags; elsewhere the run reports the failure and exits 1).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { RegistryClient } from '../../src/client/registry-client.js';
import { tempDir } from '../helpers/berth.js';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import { buildImage, buildIndex, pushBuiltImage, pushBuiltIndex } from '../helpers/images.js';
import { berthTarget, berthTokenTarget, dockerRegistryTarget, USER, type RunningTarget } from '../helpers/targets.js';
import { describeUnless } from '../helpers/tools.js';

const DAY = 24 * 3600 * 1000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

interface Decision {
  tag: string;
  digest: string;
  action: string;
  created?: string;
  createdFrom?: string;
}

for (const target of [berthTarget, berthTokenTarget, dockerRegistryTarget]) {
  describeUnless(target.missing(), `berth prune against ${target.name}`, () => {
    let running: RunningTarget;
    let folder: string;
    let registry: RegistryClient;
    const cli = (...args: string[]) => berthInProcess(args, { env: { DOCKER_CONFIG: folder } });

    before(async () => {
      running = await target.start();
      folder = tempDir('berth-prune-');
      registry = new RegistryClient(running.host, { credentials: running.credentials ?? false });
      if (target.auth)
        expectCode(await cli('login', running.host, '-u', USER.username, '-p', USER.password), 0, 'login');
      const a = buildImage({ created: '2024-01-01T00:00:00Z' });
      await pushBuiltImage(registry, 'keep/app', 'v1', a);
      await pushBuiltImage(registry, 'keep/app', 'alias-v1', a);
      await pushBuiltImage(registry, 'keep/app', 'v2', buildImage({ created: '2024-02-01T00:00:00Z' }));
      await pushBuiltImage(registry, 'keep/app', 'v3', buildImage({ created: '2024-03-01T00:00:00Z' }));
      await pushBuiltImage(
        registry,
        'keep/app',
        'v4',
        buildImage({ annotations: { 'org.opencontainers.image.created': '2024-04-01T00:00:00Z' } }),
      );
      await pushBuiltImage(registry, 'keep/app', 'release-1', buildImage({ created: '2024-01-15T00:00:00Z' }));
      await pushBuiltImage(registry, 'keep/app', 'nodate', buildImage());
      for (const [tag, days] of [
        ['fresh', 1],
        ['month', 40],
        ['old', 100],
      ] as const) {
        await pushBuiltImage(registry, 'keep/age', tag, buildImage({ created: ago(days) }));
      }
      const shared = buildImage({ created: '2023-01-01T00:00:00Z' });
      await pushBuiltImage(registry, 'keep/shared', 'old', shared);
      await pushBuiltIndex(
        registry,
        'keep/shared',
        'current',
        buildIndex([shared, buildImage({ architecture: 'arm64', created: '2023-01-01T00:00:00Z' })], {
          'org.opencontainers.image.created': '2024-06-01T00:00:00Z',
        }),
      );
    });
    after(async () => {
      registry?.close();
      await running?.close();
      if (folder) rmSync(folder, { recursive: true, force: true });
    });

    it('--dry-run lists exactly what the real run deletes, and changes nothing', async () => {
      const repository = `${running.host}/keep/app`;
      const rules = ['--keep-last', '2', '--keep', '^release-'];
      const dry = expectCode(
        await cli('prune', repository, ...rules, '--dry-run', '--json'),
        0,
        'prune --dry-run',
      ).json();
      const decisions = dry.decisions as Decision[];
      const byTag = Object.fromEntries(decisions.map((decision) => [decision.tag, decision]));
      assert.deepEqual(
        decisions.filter((decision) => decision.action !== 'keep').map((decision) => decision.tag),
        ['alias-v1', 'v1', 'v2'],
      );
      assert.equal(byTag.v1!.action, 'delete-manifest');
      assert.equal(byTag.v4!.createdFrom, 'annotation');
      assert.equal(byTag.v3!.createdFrom, 'config');
      assert.equal(byTag.nodate!.created, undefined);
      assert.equal(byTag.nodate!.action, 'keep');
      const human = expectCode(await cli('prune', repository, ...rules, '--dry-run'), 0, 'prune --dry-run (text)');
      assert.match(human.stdout, /^delete v1 /m);
      assert.match(human.stdout, /^keep {3}release-1 .*matches \^release-/m);
      assert.match(human.stdout, /dry run: 3 of 7 tags would be deleted; nothing was changed\n$/);
      assert.deepEqual((await registry.tags('keep/app')).sort(), [
        'alias-v1',
        'nodate',
        'release-1',
        'v1',
        'v2',
        'v3',
        'v4',
      ]);

      const real = expectCode(await cli('prune', repository, ...rules, '--json'), 0, 'prune').json();
      const deleted = (real.outcomes as Array<{ tag: string; ok: boolean }>)
        .filter((outcome) => outcome.ok)
        .map((outcome) => outcome.tag)
        .sort();
      assert.deepEqual(deleted, ['alias-v1', 'v1', 'v2']);
      assert.deepEqual((await registry.tags('keep/app')).sort(), ['nodate', 'release-1', 'v3', 'v4']);
      assert.equal(await registry.headManifest('keep/app', byTag.v1!.digest), undefined);
      const again = expectCode(
        await cli('prune', repository, ...rules, '--dry-run', '--json'),
        0,
        'prune --dry-run again',
      ).json();
      assert.deepEqual(
        (again.decisions as Decision[]).filter((decision) => decision.action !== 'keep'),
        [],
      );
    });

    it('--older-than keeps younger tags; --keep protects old ones', async () => {
      const repository = `${running.host}/keep/age`;
      const dry = expectCode(
        await cli('prune', repository, '--older-than', '30d', '--keep', '^old$', '--dry-run', '--json'),
        0,
        'dry run',
      ).json();
      assert.deepEqual(
        (dry.decisions as Decision[]).filter((decision) => decision.action !== 'keep').map((decision) => decision.tag),
        ['month'],
      );
      const real = expectCode(await cli('prune', repository, '--older-than', '30d', '--keep', '^old$'), 0, 'prune');
      assert.match(real.stdout, /^deleted {2}month /m);
      assert.deepEqual((await registry.tags('keep/age')).sort(), ['fresh', 'old']);
    });

    it('only untags a tag whose manifest a kept index still uses', async () => {
      const repository = `${running.host}/keep/shared`;
      const dry = expectCode(
        await cli('prune', repository, '--keep-last', '1', '--dry-run', '--json'),
        0,
        'dry run',
      ).json();
      const old = (dry.decisions as Decision[]).find((decision) => decision.tag === 'old')!;
      assert.equal(old.action, 'untag');
      const real = await cli('prune', repository, '--keep-last', '1');
      if (running.deletesTags) {
        assert.match(expectCode(real, 0, 'prune').stdout, /^untagged old /m);
        assert.deepEqual(await registry.tags('keep/shared'), ['current']);
        assert.ok(await registry.headManifest('keep/shared', old.digest), 'the index child is still there');
      } else {
        expectCode(real, 1, 'prune where tags cannot be deleted');
        assert.match(real.stdout, /^FAILED +old .*cannot delete a tag/m);
        assert.match(real.stderr, /1 deletion failed/);
        assert.ok(await registry.headManifest('keep/shared', 'current'), 'the kept index is intact');
      }
    });

    it('refuses rules that would delete everything or cannot be read (exit 2)', async () => {
      const repository = `${running.host}/keep/app`;
      assert.match(
        expectCode(await cli('prune', repository, '--dry-run'), 2, 'no rules').stderr,
        /needs --keep-last N or --older-than/,
      );
      assert.match(
        expectCode(await cli('prune', repository, '--older-than', 'soon'), 2, 'bad duration').stderr,
        /is not a duration/,
      );
      assert.match(
        expectCode(await cli('prune', repository, '--keep-last', '2', '--keep', '('), 2, 'bad pattern').stderr,
        /is not a regular expression/,
      );
      expectCode(await cli('prune', `${running.host}/no/such`, '--keep-last', '1'), 3, 'missing repository');
    });
  });
}

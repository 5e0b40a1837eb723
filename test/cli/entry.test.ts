/**
 * The real `berth` executable (src/cli/main.ts in its own process): the registry commands are
 * wired in, exit codes reach the shell, `login --password-stdin` reads standard input, and copy
 * progress bars appear on a terminal (under `script`, which gives the process a pseudo-terminal);
 * without one there are none (test/cli/cp.test.ts checks stderr stays empty). Each start goes
 * through tsx, which compiles the sources it loads, so there are few, run in parallel.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { berthCli, cliCommand, expectCode } from '../helpers/cli.js';
import { OciLayout as TestLayout } from '../helpers/oci-layout.js';
import { berthTokenTarget, USER, type RunningTarget } from '../helpers/targets.js';
import { describeWithTools, findTool, run } from '../helpers/tools.js';

const script = findTool('script', 'bsdutils', ['script', '--version']);

describeWithTools('the berth executable', [script], () => {
  let running: RunningTarget;
  let folder: string;
  before(async () => {
    running = await berthTokenTarget.start();
    folder = tempDir('berth-entry-');
    const layout = await TestLayout.create(join(folder, 'layout'));
    const image = await layout.writeImage({ layers: [await layout.writeRandomLayer(4 * 1024 * 1024)] });
    await layout.tag(image.manifest, 'v1');
  });
  after(async () => {
    await running?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('lists the registry commands, maps outcomes to exit codes, logs in from standard input', async () => {
    const [help, unauthenticated, login] = await Promise.all([
      berthCli(['--help']),
      berthCli(['tags', `${running.host}/some/repo`], { env: { DOCKER_CONFIG: join(folder, 'nobody') } }),
      berthCli(['login', running.host, '--username', USER.username, '--password-stdin'], {
        env: { DOCKER_CONFIG: folder },
        input: `${USER.password}\n`,
      }),
    ]);
    for (const command of ['login', 'logout', 'catalog', 'tags', 'digest', 'inspect', 'rm', 'cp', 'prune']) {
      assert.match(expectCode(help, 0, '--help').stdout, new RegExp(`^  ${command} `, 'm'));
    }
    assert.match(expectCode(unauthenticated, 4, 'no credentials').stderr, /hint: log in/);
    assert.match(expectCode(login, 0, 'login --password-stdin').stdout, /Login Succeeded/);
  });

  it('draws progress bars on a terminal and prints the summary', async () => {
    const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
    const berth = cliCommand().map(quote).join(' ');
    const command = `${berth} cp ${quote(`oci:${join(folder, 'layout')}:v1`)} ${running.host}/bars/app:v1`;
    const result = await run('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, DOCKER_CONFIG: folder },
      timeout: 60_000,
    });
    assert.match(result.stdout, /\d+%/, 'a percentage from the progress bar');
    assert.match(result.stdout, /4\.0 MiB/);
    assert.match(result.stdout, /Copied oci:.* to 127\.0\.0\.1:\d+\/bars\/app:v1/);
  });
});

/**
 * The entry point loads only the command that runs (src/cli/command-table.ts): the listing of
 * `berth --help` comes from the table, so each summary must be the description its command
 * declares; `--version` prints the package's version; a command's own help and `help <command>`
 * load it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { COMMANDS } from '../../src/cli/command-table.js';
import { berthCli, expectCode, REPO_ROOT } from '../helpers/cli.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('the command table', () => {
  it("lists each command with the description the command's module declares", async () => {
    for (const entry of COMMANDS) {
      const program = new Command('berth');
      (await entry.load())(program);
      const declared = program.commands.find((command) => command.name() === entry.name);
      assert.ok(declared, `${entry.name}: its module declares a command of that name`);
      assert.equal(entry.summary, declared.description(), entry.name);
    }
  });

  it('prints the version, lists every command, and loads a command for its own help', async () => {
    const [long, short, help, tagsHelp, helpTags] = await Promise.all([
      berthCli(['--version']),
      berthCli(['-v']),
      berthCli(['--help']),
      berthCli(['tags', '--help']),
      berthCli(['help', 'htpasswd']),
    ]);
    assert.equal(expectCode(long, 0, '--version').stdout, `${version}\n`);
    assert.equal(expectCode(short, 0, '-v').stdout, `${version}\n`);
    for (const entry of COMMANDS)
      assert.match(expectCode(help, 0, '--help').stdout, new RegExp(`^  ${entry.name} `, 'm'));
    assert.match(expectCode(tagsHelp, 0, 'tags --help').stdout, /--page-size <n>/);
    assert.match(
      expectCode(helpTags, 0, 'help htpasswd').stdout,
      /Usage: berth htpasswd \[options\] <action> <file> <user>/,
    );
  });
});

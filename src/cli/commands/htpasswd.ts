/**
 * `berth htpasswd add|passwd|rm FILE USER`: manages the users of an htpasswd file (bcrypt, as
 * Distribution's `auth.htpasswd` and Berth's token server read it). The password is read from
 * standard input (its first line) or, on a terminal, asked for twice without echo. The file is
 * rewritten atomically with its comments and other entries kept; a new file is created 0600.
 * A running Berth picks the change up on its next request.
 */
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { createInterface } from 'node:readline';
import bcrypt from 'bcryptjs';
import type { Command } from 'commander';
import { parseHtpasswd, serializeHtpasswd, type HtpasswdLine } from '../../auth/htpasswd/file.js';
import { userNameProblem, USER_NAME_RULE } from '../../api/user-name.js';

export class HtpasswdCommandError extends Error {}

/** A bcrypt hash in the `$2y$` form Apache's `htpasswd -B` writes (and Distribution reads). */
export function hashPassword(password: string, cost: number): string {
  return bcrypt.hashSync(password, cost).replace(/^\$2[ab]\$/, '$2y$');
}

function readLines(path: string): HtpasswdLine[] {
  if (!existsSync(path)) return [];
  return parseHtpasswd(readFileSync(path, 'utf8'), path, false);
}

function writeAtomically(path: string, lines: HtpasswdLine[]): void {
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : 0o600;
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(temporary, serializeHtpasswd(lines), { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (line === '') throw new HtpasswdCommandError('no password on standard input');
    return line;
  }
  const ask = (prompt: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const output = rl as unknown as { _writeToOutput: (text: string) => void };
      process.stderr.write(prompt);
      output._writeToOutput = () => {}; // no echo
      rl.question('', (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
    });
  const first = await ask('New password: ');
  const second = await ask('Re-type new password: ');
  if (first !== second) throw new HtpasswdCommandError('passwords do not match');
  if (first === '') throw new HtpasswdCommandError('empty password');
  return first;
}

export async function htpasswd(action: string, file: string, user: string, options: { cost: number }): Promise<string> {
  // `rm` takes any name, so that an entry the server ignores can still be removed.
  const problem = action === 'rm' ? undefined : userNameProblem(user);
  if (problem !== undefined)
    throw new HtpasswdCommandError(`${JSON.stringify(user)} cannot be a user name: it ${problem} (${USER_NAME_RULE})`);
  const lines = readLines(file);
  const index = lines.findIndex((line) => 'user' in line && line.user === user);
  switch (action) {
    case 'add': {
      if (index !== -1)
        throw new HtpasswdCommandError(`user "${user}" already exists in ${file} (use passwd to change the password)`);
      lines.push({ user, hash: hashPassword(await readPassword(), options.cost) });
      writeAtomically(file, lines);
      return `added user "${user}" to ${file}`;
    }
    case 'passwd': {
      if (index === -1) throw new HtpasswdCommandError(`no user "${user}" in ${file} (use add)`);
      lines[index] = { user, hash: hashPassword(await readPassword(), options.cost) };
      writeAtomically(file, lines);
      return `changed the password of "${user}" in ${file}`;
    }
    case 'rm': {
      if (index === -1) throw new HtpasswdCommandError(`no user "${user}" in ${file}`);
      lines.splice(index, 1);
      writeAtomically(file, lines);
      return `removed user "${user}" from ${file}`;
    }
    default:
      throw new HtpasswdCommandError(`unknown action "${action}": use add, passwd or rm`);
  }
}

export function registerHtpasswd(program: Command): void {
  program
    .command('htpasswd')
    .description('add a user to, change a password in, or remove a user from an htpasswd file (bcrypt)')
    .argument('<action>', 'add | passwd | rm')
    .argument('<file>', 'the htpasswd file (created by add if missing)')
    .argument('<user>', 'the user name')
    .option(
      '--cost <n>',
      'bcrypt cost (4 to 31)',
      (value) => {
        const cost = Number(value);
        if (!Number.isInteger(cost) || cost < 4 || cost > 31)
          throw new HtpasswdCommandError('--cost must be an integer from 4 to 31');
        return cost;
      },
      10,
    )
    .addHelpText('after', '\nThe password is read from standard input (first line), or asked for on a terminal.')
    .action(async (action: string, file: string, user: string, options: { cost: number }) => {
      console.log(await htpasswd(action, file, user, options));
    });
}

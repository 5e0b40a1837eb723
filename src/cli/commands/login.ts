/**
 * `berth login REGISTRY`: checks credentials against the registry, then saves them in Docker's
 * config.json (`auths`), where `docker login` and `skopeo`/`podman login --authfile` keep theirs.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ClientError } from '../../client/errors.js';
import { RegistryClient } from '../../client/registry-client.js';
import { normalizeRegistryHost } from '../../client/reference.js';
import {
  type ConnectionOptions,
  credentialStore,
  io,
  printJson,
  runCommand,
  withConnectionOptions,
} from '../common.js';

interface LoginOptions extends ConnectionOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks on the terminal; `hidden` does not echo what is typed. */
async function ask(question: string, hidden: boolean): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) io.err(chunk);
      callback();
    },
  });
  const reader = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      reader.question(question, (answer) => resolve(answer));
      muted = hidden;
    });
  } finally {
    reader.close();
    if (hidden) io.err('\n');
  }
}

async function login(registryArg: string, options: LoginOptions): Promise<void> {
  await runCommand(options, async () => {
    const host = normalizeRegistryHost(registryArg);
    let { username, password } = options;
    if (options.passwordStdin) {
      if (password !== undefined) throw new ClientError('usage', '--password and --password-stdin are exclusive');
      password = await readStdin();
    }
    const interactive = process.stdin.isTTY === true;
    if (username === undefined) {
      if (!interactive)
        throw new ClientError('usage', 'no user name given', {
          hint: 'pass --username NAME (and --password-stdin to read the password from standard input)',
        });
      username = await ask('Username: ', false);
    }
    if (password === undefined) {
      if (!interactive)
        throw new ClientError('usage', 'no password given', {
          hint: 'pipe it in with --password-stdin, e.g. echo "$TOKEN" | berth login --username NAME --password-stdin REGISTRY',
        });
      password = await ask('Password: ', true);
    }
    if (!username) throw new ClientError('usage', 'the user name is empty');
    const registry = new RegistryClient(host, {
      ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
      insecure: options.insecure === true,
      credentials: { username, password },
      userAgent: 'berth-cli',
    });
    try {
      await registry.ping();
    } catch (error) {
      if (error instanceof ClientError && error.kind === 'auth') {
        throw new ClientError(
          'auth',
          `login to ${host} failed: the registry refused the credentials of "${username}"`,
          {
            status: error.status,
            hint: 'check the user name and password; nothing was saved',
          },
        );
      }
      throw error;
    } finally {
      registry.close();
    }
    const store = credentialStore(options);
    store.set(host, username, password);
    if (options.json) printJson({ registry: host, username, authfile: store.path });
    else io.out(`Login Succeeded (${username}@${host}, saved in ${store.path})\n`);
  });
}

export function registerLogin(program: Command): void {
  withConnectionOptions(
    program
      .command('login')
      .description("check credentials against a registry and save them in Docker's config.json")
      .argument('<registry>', 'registry host[:port]')
      .option('-u, --username <name>', 'user name')
      .option('-p, --password <password>', 'password (visible to other processes: prefer --password-stdin)')
      .option('--password-stdin', 'read the password from standard input'),
  ).action((registry: string, options: LoginOptions) => login(registry, options));
}

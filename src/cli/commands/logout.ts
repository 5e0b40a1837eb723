/** `berth logout REGISTRY`: removes a registry's entries from Docker's config.json. */
import type { Command } from 'commander';
import { normalizeRegistryHost } from '../../client/reference.js';
import {
  type ConnectionOptions,
  credentialStore,
  io,
  printJson,
  runCommand,
  withConnectionOptions,
} from '../common.js';

async function logout(registryArg: string, options: ConnectionOptions): Promise<void> {
  await runCommand(options, async () => {
    const host = normalizeRegistryHost(registryArg);
    const store = credentialStore(options);
    const removed = store.remove(host);
    if (options.json) printJson({ registry: host, removed, authfile: store.path });
    else
      io.out(
        removed
          ? `Removed the credentials of ${host} from ${store.path}\n`
          : `Not logged in to ${host} (nothing in ${store.path})\n`,
      );
  });
}

export function registerLogout(program: Command): void {
  withConnectionOptions(
    program
      .command('logout')
      .description('remove the saved credentials of a registry')
      .argument('<registry>', 'registry host[:port]'),
  ).action((registry: string, options: ConnectionOptions) => logout(registry, options));
}

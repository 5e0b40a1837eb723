/**
 * What the commands that work on a registry's storage directly share (`berth garbage-collect`,
 * `berth du`, `berth retention`, `berth tag-lock`): the configuration read the way `berth serve`
 * reads it, with its warnings on stderr, and the storage opened without creating anything, so
 * that a dry run changes nothing on disk.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { destination, pino, type Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Registry } from '../registry/registry.js';
import { policyOptions } from '../registry/policies/options.js';
import { createDriver } from '../storage/factory.js';

export function openStorage(configPath: string | undefined): { config: Config; registry: Registry } {
  const { config, warnings } = loadConfig(configPath);
  for (const warning of warnings) process.stderr.write(`berth: ${warning}\n`);
  const root = config.storage.filesystem ? resolve(config.storage.filesystem.rootdirectory) : undefined;
  if (root) {
    // Checked here rather than created: a dry run must not change the disk.
    if (!existsSync(root)) throw new Error(`storage: ${root} does not exist`);
    config.storage.filesystem!.rootdirectory = root;
  }
  // Policies apply offline too: retention never removes an immutable tag.
  return { config, registry: new Registry(createDriver(config.storage), { policies: policyOptions(config) }) };
}

/** Figures go to the log (stderr, JSON lines); listings go to stdout. */
export function stderrLogger(config: Config, quiet = false): Logger {
  return pino(
    { level: quiet ? 'warn' : config.log.level, base: { service: 'berth' } },
    destination({ dest: 2, sync: true }),
  );
}

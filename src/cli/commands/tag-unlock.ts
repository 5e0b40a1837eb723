/**
 * `berth tag-unlock [config] <name:tag> [--for 1h]`: lifts an immutability rule
 * (`berth.immutabletags`) for one operation on one tag: the next push that moves the tag, or the
 * next delete that removes it, is accepted, by any Berth process serving the storage; then the
 * rule holds again. Unused, the unlock expires. Written to the storage directly, so only who can
 * write the registry's storage (its administrators) can unlock.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { isValidName, isValidTag } from '../../api/reference.js';
import { ConfigError } from '../../config/load.js';
import { parsePolicyDuration } from '../../config/policies.js';
import { openStorage } from '../offline.js';

export async function tagUnlock(args: string[], options: { for: string }): Promise<void> {
  if (args.length < 1 || args.length > 2) throw new ConfigError('usage: berth tag-unlock [config] <name:tag>');
  const [configPath, reference] = args.length === 2 ? [args[0], args[1]!] : [undefined, args[0]!];
  const colon = reference.lastIndexOf(':');
  const name = reference.slice(0, colon);
  const tag = reference.slice(colon + 1);
  if (colon <= 0 || !isValidName(name) || !isValidTag(tag))
    throw new ConfigError(`"${reference}" is not a repository and tag (for example prod/api:v1.2)`);
  const lifetime = parsePolicyDuration(options.for);
  if (lifetime === undefined || lifetime <= 0)
    throw new ConfigError(`--for "${options.for}" is not a duration (for example 1h, 10m)`);
  const { registry } = openStorage(configPath);
  const rule = registry.immutable.ruleFor(name, tag);
  if (!rule) throw new ConfigError(`${name}:${tag} matches no rule of berth.immutabletags: there is nothing to unlock`);
  const expires = new Date(Date.now() + lifetime).toISOString();
  await registry.immutable.unlock(name, tag, { expires, by: userInfo().username });
  process.stdout.write(`${name}:${tag} unlocked for one push or delete, until ${expires} (${rule})\n`);
}

export function registerTagUnlock(program: Command): void {
  program
    .command('tag-unlock')
    .description('let the next push or delete change one immutable tag (berth.immutabletags)')
    .argument('<args...>', '[config] <name:tag>: the configuration (default: the built-in one) and the tag')
    .option('--for <duration>', 'how long the unlock waits to be used', '1h')
    .action((args: string[], options: { for: string }) => tagUnlock(args, options));
}

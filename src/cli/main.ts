#!/usr/bin/env node
/**
 * The `berth` command line. Each command lives in ./commands/<name>.ts and registers itself on
 * the program; this file only wires them and maps failures to exit codes.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { registerServe } from './commands/serve.js';
import { registerGarbageCollect } from './commands/garbage-collect.js';
import { registerEvents } from './commands/events.js';
import { registerDu } from './commands/du.js';
import { registerTagUnlock } from './commands/tag-unlock.js';
import { registerRetention } from './commands/retention.js';
import { CLIENT_COMMANDS } from './client-commands.js';
import { registerHtpasswd } from './commands/htpasswd.js';
import { registerConfig } from './commands/config.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('Berth: a container image registry (OCI Distribution / Docker Registry HTTP API V2)')
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerGarbageCollect(program);
  registerEvents(program);
  registerDu(program);
  registerTagUnlock(program);
  registerRetention(program);
  // Registry client commands (exit codes: src/cli/common.ts, docs/cli.md).
  for (const register of CLIENT_COMMANDS) register(program);
  registerHtpasswd(program);
  registerConfig(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    if (error instanceof ConfigError) {
      console.error(`berth: ${error.message}`);
      process.exit(EXIT.usage);
    }
    console.error(`berth: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(EXIT.failure);
  }
}

void main();

#!/usr/bin/env node
/**
 * The `berth` command line. Each command lives in ./commands/<name>.ts and declares itself on the
 * program; ./command-table.ts lists them. Only the command that runs is loaded: the others are
 * listed by name and summary, so `berth --help` and `berth --version` load no command at all.
 * This file wires them and maps failures to exit codes.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { COMMANDS } from './command-table.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The package's version, from the package.json two folders up (from src/cli/ and from dist/cli/). */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The command `args` (process.argv without node and the script) asks for: its first operand, or what `help` names. */
function wantedCommand(args: readonly string[]): string | undefined {
  const operands = args.filter((arg) => !arg.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

export async function buildProgram(args: readonly string[]): Promise<Command> {
  const program = new Command('berth')
    .description('Berth: a container image registry (OCI Distribution / Docker Registry HTTP API V2)')
    .version(packageVersion(), '-v, --version', 'print the version of berth')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', '\nRun `berth <command> --help` for the arguments and options of a command.');
  const wanted = wantedCommand(args);
  for (const entry of COMMANDS) {
    if (entry.name === wanted) (await entry.load())(program);
    else program.command(entry.name).description(entry.summary);
  }
  return program;
}

async function main(): Promise<void> {
  try {
    const program = await buildProgram(process.argv.slice(2));
    await program.parseAsync(process.argv);
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

/**
 * `berth serve [config.yml]`: declares the command; the server (../server.ts, which loads all of
 * Berth) is imported when the command runs, so `berth serve --help` starts as fast as the others.
 */
import type { Command } from 'commander';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the registry (without a file: the built-in default configuration)')
    .argument('[config]', 'Distribution-format config.yml; REGISTRY_… environment variables override it')
    .action(async (config: string | undefined) => (await import('../server.js')).serve(config));
}

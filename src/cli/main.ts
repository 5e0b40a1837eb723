#!/usr/bin/env node
/** The `berth` command line. */
import { ConfigError } from '../config/load.js';
import { serve } from './commands/serve.js';

const USAGE = `usage: berth <command> [arguments]

commands:
  serve [config.yml]   run the registry (without a file: the built-in default configuration)
  help                 show this text

Distribution's REGISTRY_… environment variables override the configuration.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest[0]);
      return -1; // keeps running
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`berth: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`berth: ${error.message}`);
      process.exit(2);
    }
    console.error('berth:', error);
    process.exit(1);
  },
);

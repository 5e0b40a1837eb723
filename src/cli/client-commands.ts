/**
 * The registry client commands (login, logout, catalog, tags, digest, inspect, rm, cp, prune), in
 * the order `berth --help` lists them. Exit codes: see EXIT_CODES in ./common.ts and docs/cli.md.
 */
import type { Command } from 'commander';
import { registerCatalog } from './commands/catalog.js';
import { registerCp } from './commands/cp.js';
import { registerDigest } from './commands/digest.js';
import { registerInspect } from './commands/inspect.js';
import { registerLogin } from './commands/login.js';
import { registerLogout } from './commands/logout.js';
import { registerPrune } from './commands/prune.js';
import { registerRm } from './commands/rm.js';
import { registerTags } from './commands/tags.js';

export const CLIENT_COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerLogin,
  registerLogout,
  registerCatalog,
  registerTags,
  registerDigest,
  registerInspect,
  registerRm,
  registerCp,
  registerPrune,
];

/**
 * Every `berth` command, in the order `berth --help` lists them: its name, the line the listing
 * shows, and how to load its module. A command's code (and the server, client or storage code it
 * uses) is loaded only when that command runs, so `berth --help`, `--version` and each command
 * start without loading the others. test/cli/entry.test.ts checks each summary is its command's
 * description.
 */
import type { Command } from 'commander';

export interface CommandEntry {
  name: string;
  summary: string;
  /** The module's function that declares the command (arguments, options, action) on the program. */
  load(): Promise<(program: Command) => void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'serve',
    summary: 'run the registry (without a file: the built-in default configuration)',
    load: async () => (await import('./commands/serve.js')).registerServe,
  },
  {
    name: 'garbage-collect',
    summary: 'delete blobs no kept manifest references (safe while Berth serves the same storage)',
    load: async () => (await import('./commands/garbage-collect.js')).registerGarbageCollect,
  },
  {
    name: 'events',
    summary: 'the notification outbox: list pending and dead events, replay dead ones',
    load: async () => (await import('./commands/events.js')).registerEvents,
  },
  {
    name: 'du',
    summary: 'bytes used per repository and namespace (shared layers counted once), from the records in storage',
    load: async () => (await import('./commands/du.js')).registerDu,
  },
  {
    name: 'tag-unlock',
    summary: 'let the next push or delete change one immutable tag (berth.immutabletags)',
    load: async () => (await import('./commands/tag-unlock.js')).registerTagUnlock,
  },
  {
    name: 'retention',
    summary: 'apply berth.retention: delete the manifests no rule keeps (start with --dry-run)',
    load: async () => (await import('./commands/retention.js')).registerRetention,
  },
  // Registry client commands (exit codes: src/cli/common.ts, docs/cli.md).
  {
    name: 'login',
    summary: "check credentials against a registry and save them in Docker's config.json",
    load: async () => (await import('./commands/login.js')).registerLogin,
  },
  {
    name: 'logout',
    summary: 'remove the saved credentials of a registry',
    load: async () => (await import('./commands/logout.js')).registerLogout,
  },
  {
    name: 'catalog',
    summary: 'list the repositories of a registry',
    load: async () => (await import('./commands/catalog.js')).registerCatalog,
  },
  {
    name: 'tags',
    summary: 'list the tags of a repository',
    load: async () => (await import('./commands/tags.js')).registerTags,
  },
  {
    name: 'digest',
    summary: 'print the digest of an image (tag → sha256:…)',
    load: async () => (await import('./commands/digest.js')).registerDigest,
  },
  {
    name: 'inspect',
    summary: 'show platforms, layers, sizes, creation time and annotations of an image',
    load: async () => (await import('./commands/inspect.js')).registerInspect,
  },
  {
    name: 'rm',
    summary: 'delete an image: resolve the tag to its digest, then delete the manifest',
    load: async () => (await import('./commands/rm.js')).registerRm,
  },
  {
    name: 'cp',
    summary: 'copy an image (all platforms) between registries and OCI layout folders (oci:DIR[:tag])',
    load: async () => (await import('./commands/cp.js')).registerCp,
  },
  {
    name: 'prune',
    summary: 'delete old tags of a repository by retention rules (try --dry-run first)',
    load: async () => (await import('./commands/prune.js')).registerPrune,
  },
  {
    name: 'htpasswd',
    summary: 'add a user to, change a password in, or remove a user from an htpasswd file (bcrypt)',
    load: async () => (await import('./commands/htpasswd.js')).registerHtpasswd,
  },
  {
    name: 'config',
    summary: 'check, show and describe configuration files',
    load: async () => (await import('./commands/config.js')).registerConfig,
  },
];

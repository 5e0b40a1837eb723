/**
 * Keys of Distribution's configuration that Berth accepts but does not act on, each with the
 * reason given in the start-up warning. Whole top-level sections are listed in schema.ts
 * (IGNORED_SECTIONS); this table is for keys inside sections Berth does implement.
 */
import { DISTRIBUTION_SECTION_WARNINGS } from './distribution-warnings.js';

type Tree = Record<string, unknown>;

export interface IgnoredKey {
  path: string;
  reason: string;
  /** Warn only for some values (default: whenever the key is present). */
  when?: (value: unknown) => boolean;
}

const STORAGE_DRIVERS_NOT_SERVED = ['gcs'];

const isTrue = (value: unknown) => value === true || (typeof value === 'string' && value.toLowerCase() === 'true');

export const IGNORED_KEYS: readonly IgnoredKey[] = [
  { path: 'log.hooks', reason: 'log hooks (mail) are not supported' },
  { path: 'log.reportcaller', reason: 'caller information is not logged' },
  { path: 'storage.filesystem.maxthreads', reason: "Node's file I/O thread pool is sized by UV_THREADPOOL_SIZE" },
  ...STORAGE_DRIVERS_NOT_SERVED.map((driver) => ({
    path: `storage.${driver}`,
    reason: 'Berth serves storage.filesystem, storage.s3, storage.azure and storage.inmemory',
  })),
  {
    path: 'storage.s3.v4auth',
    reason: 'the AWS SDK signs every request with Signature Version 4',
    when: (value) => !isTrue(value),
  },
  {
    path: 'storage.s3.loglevel',
    reason: 'S3 requests are not logged by the SDK; failures appear in the registry log',
    when: (value) => value !== 'off',
  },
  { path: 'storage.cache', reason: 'Berth keeps no blob descriptor cache' },
  { path: 'storage.tag', reason: 'tag lookups need no concurrency limit in Berth' },
  { path: 'proxy.exec', reason: 'credential helpers are not run; set proxy.username and proxy.password' },
  { path: 'http.secret', reason: 'not needed: upload state is kept in storage, not signed into client state' },
  { path: 'http.debug.tls', reason: 'the debug listener serves plain HTTP' },
  ...DISTRIBUTION_SECTION_WARNINGS,
];

function lookup(tree: Tree, path: string): { present: boolean; value?: unknown } {
  let node: unknown = tree;
  const segments = path.split('.');
  for (const [index, segment] of segments.entries()) {
    if (typeof node !== 'object' || node === null || !(segment in node)) return { present: false };
    node = (node as Tree)[segment];
    if (index === segments.length - 1) return { present: true, value: node };
  }
  return { present: false };
}

/** One warning for each ignored key the configuration sets. */
export function ignoredKeyWarnings(tree: Tree): string[] {
  const warnings: string[] = [];
  for (const key of IGNORED_KEYS) {
    const found = lookup(tree, key.path);
    if (found.present && (key.when?.(found.value) ?? true)) {
      warnings.push(`configuration: "${key.path}" is ignored: ${key.reason}`);
    }
  }
  return warnings;
}

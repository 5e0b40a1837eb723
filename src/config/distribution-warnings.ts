/**
 * Start-up warnings for the keys of distribution-sections.ts that Berth accepts without acting
 * on them (listed in ignored.ts with the other ignored keys).
 */
import type { IgnoredKey } from './ignored.js';

type Tree = Record<string, unknown>;

const entries = (value: unknown): Tree[] => (Array.isArray(value) ? (value as Tree[]) : []);

export const DISTRIBUTION_SECTION_WARNINGS: readonly IgnoredKey[] = [
  { path: 'tags', reason: 'tags/list is paged with n by Berth; concurrencylimit and maxtags have no effect' },
  { path: 'reporting', reason: 'no error-reporting service (Bugsnag, New Relic) is called; errors go to the log' },
  { path: 'middleware.registry', reason: 'registry middleware are Go plug-ins of Distribution' },
  { path: 'middleware.repository', reason: 'repository middleware are Go plug-ins of Distribution' },
  {
    path: 'middleware.storage',
    reason: 'of the storage middleware Berth implements redirect only (not cloudfront or others)',
    when: (value) => entries(value).some((entry) => entry.name !== 'redirect' && entry.disabled !== true),
  },
  {
    path: 'validation.manifests.indexes',
    reason: "an index is accepted only when all its manifests are in the repository (Distribution's platforms: all)",
    when: (value) => (value as Tree | null)?.platforms !== 'all',
  },
  {
    path: 'compatibility.schema1.signingkeyfile',
    reason: 'schema 1 manifests are not served, so nothing is signed',
  },
];

/**
 * Stored bytes from the storage accounting (src/registry/policies/accounting.ts), read at each
 * scrape: per repository (`logical`: the distinct blobs it needs; `unique`: those no other
 * repository needs) and in all (deduplicated). Every process reads the same records in storage, so
 * over worker processes the largest figure is kept rather than the sum. One series per repository:
 * on a registry with very many repositories, mind Prometheus' cardinality.
 */
import type { StorageAccounting } from '../registry/policies/accounting.js';
import { gauge } from './registry.js';

/** The accounting read at scrapes: the last server made in this process (tests make several). */
let source: StorageAccounting | undefined;

export function countStoredBytes(accounting: StorageAccounting): void {
  source = accounting;
  gauge({
    name: 'berth_repository_stored_bytes',
    help: 'Bytes a repository needs, by kind: logical (its distinct blobs), unique (those no other repository needs).',
    labelNames: ['repository', 'kind'] as const,
    aggregator: 'max',
    async collect() {
      const report = await source!.report();
      this.reset();
      for (const repository of report.repositories) {
        this.set({ repository: repository.name, kind: 'logical' }, repository.logical);
        this.set({ repository: repository.name, kind: 'unique' }, repository.unique);
      }
    },
  });
  gauge({
    name: 'berth_stored_bytes',
    help: 'Bytes of every distinct blob some repository needs: what the registry holds, deduplicated.',
    aggregator: 'max',
    async collect() {
      this.set((await source!.totals()).bytes);
    },
  });
}

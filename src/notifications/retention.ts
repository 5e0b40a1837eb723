/**
 * Retention's deletions as registry events: one `delete` per manifest, as Distribution sends for
 * a manifest DELETE (target: repository and digest), without a request (Berth's own work).
 */
import type { Notifier } from './notifier.js';

export async function recordRetentionDeletes(
  notifier: Notifier,
  deleted: ReadonlyArray<{ repository: string; digest: string }>,
): Promise<void> {
  if (!notifier.enabled) return;
  await notifier.record(
    deleted.map(({ repository, digest }) => ({ action: 'delete' as const, target: { repository, digest } })),
  );
}

/**
 * Bytes stored, for the web UI's storage page: the registry totals of storage accounting
 * (policies/accounting.ts), the same figures as `berth du`, the admin endpoint and the metrics.
 * Each blob is counted once however many repositories use it.
 */
import type { StorageAccounting } from './policies/accounting.js';

export interface StorageStats {
  /** Distinct blobs (layers, configs and manifests) the repositories' manifests need. */
  blobs: number;
  /** Their bytes: what the registry holds on storage, deduplicated. */
  bytes: number;
  repositories: number;
  namespaces: number;
  tags: number;
  /** When the figures were read (ISO time). */
  computedAt: string;
}

export async function storageStats(accounting: StorageAccounting): Promise<StorageStats> {
  const { blobs, bytes, repositories, namespaces, tags } = await accounting.totals();
  return { blobs, bytes, repositories, namespaces, tags, computedAt: new Date().toISOString() };
}

/**
 * Families counted by registry logic, the rate limits, the token server and the pull-through
 * cache (docs/observability.md lists each). Each is recorded where the thing happens; this module
 * only declares them, so the list of what Berth counts is in one place.
 */
import { counter, gauge, histogram } from './registry.js';

/** Garbage collection (src/registry/gc/collector.ts). */
export const gcMetrics = {
  runs: counter({
    name: 'berth_gc_runs_total',
    help: 'Garbage collection runs, by result (completed, failed) and whether they were dry runs.',
    labelNames: ['result', 'dryrun'] as const,
  }),
  duration: histogram({
    name: 'berth_gc_duration_seconds',
    help: 'Time of each garbage collection run.',
    labelNames: ['dryrun'] as const,
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
  }),
  bytesFreed: counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes of blobs deleted by garbage collection.' }),
  blobsDeleted: counter({ name: 'berth_gc_deleted_blobs_total', help: 'Blobs deleted by garbage collection.' }),
  manifestsDeleted: counter({
    name: 'berth_gc_deleted_manifests_total',
    help: 'Manifests deleted by garbage collection (with berth.gc.deleteuntagged).',
  }),
};

/** Requests refused with 429, by budget (src/ratelimit). */
export const rateLimitRefusals = counter({
  name: 'berth_ratelimit_refusals_total',
  help: 'Requests refused with 429 TOOMANYREQUESTS, by budget (requests, pulls, uploads, tokens, failedlogins, concurrentuploads).',
  labelNames: ['budget'] as const,
});

/** Uploads whose bytes are arriving now (src/metrics/http.ts). */
export const uploadsInProgress = gauge({
  name: 'berth_uploads_in_progress',
  help: 'Upload requests whose blob bytes are being received now (PATCH chunks, PUTs with bytes, whole-blob POSTs).',
});

/** The built-in token server (src/http/routes/token.ts). */
export const tokenRequests = counter({
  name: 'berth_token_requests_total',
  help: 'Requests to the built-in token server, by result (issued, refused) and HTTP status.',
  labelNames: ['result', 'code'] as const,
});

/** In-memory caches (manifest content, tag listings). */
export const cacheLookups = counter({
  name: 'berth_cache_lookups_total',
  help: 'Lookups in the in-memory caches, by cache and result (hit, miss).',
  labelNames: ['cache', 'result'] as const,
});

/** Distribution's pull-through cache families (registry_proxy_*), by type (blob, manifest). */
const proxyCounter = (name: string, help: string) =>
  counter({ name: `registry_proxy_${name}_total`, help, labelNames: ['type'] as const });

export const proxyMetrics = {
  requests: proxyCounter('requests', 'The number of total incoming proxy request received'),
  hits: proxyCounter('hits', 'The number of total proxy request hits'),
  misses: proxyCounter('misses', 'The number of total proxy request misses'),
  pulledBytes: proxyCounter('pulled_bytes', 'The size of total bytes pulled from the upstream'),
  pushedBytes: proxyCounter('pushed_bytes', 'The size of total bytes pushed to the client'),
};

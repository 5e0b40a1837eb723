/**
 * The one module that knows the storage layout. It is CNCF Distribution's, so either registry
 * can serve a folder the other wrote:
 *
 *   /docker/registry/v2/
 *     blobs/<alg>/<hex[0:2]>/<hex>/data                      content: layers, configs, manifests
 *     repositories/<name>/
 *       _layers/<alg>/<hex>/link                             blob visible in this repository
 *       _manifests/revisions/<alg>/<hex>/link                manifest revision in this repository
 *       _manifests/tags/<tag>/current/link                   digest the tag points to now
 *       _manifests/tags/<tag>/index/<alg>/<hex>/link         every digest the tag has pointed to
 *       _uploads/<uuid>/data                                 bytes of an upload in progress
 *       _uploads/<uuid>/startedat                            RFC 3339 time the upload began
 *       _referrers/<alg>/<subject hex>/<alg>/<hex>/link      Berth only: manifests whose subject
 *                                                            is <subject>; Distribution skips
 *                                                            folders that start with "_"
 *       _proxy/<alg>/<hex>                                   Berth only: content a pull-through
 *                                                            cache fetched (its kind and size); the
 *                                                            file's time is when it was last pulled
 *     _berth/gc/                                             Berth only: garbage collection's
 *       runs/<run id>                                        coordination files (see
 *       tombstones/<run id>                                  registry/gc/protocol.ts); Distribution
 *       intents/<uuid>                                       reads only blobs/ and repositories/
 *       lock
 *     _berth/policies/unlocks/<name>/_tags/<tag>               Berth only: one-operation unlocks of
 *                                                            immutable tags (registry/policies/)
 *     _berth/policies/pulls/<name>/_pulled                   Berth only: last pull time per manifest
 *     _berth/usage/repositories/<name>/_usage                Berth only: storage accounting, kept
 *     _berth/usage/changes/<key>                             current by every write: one record per
 *     _berth/usage/snapshots/<id>, _berth/usage/state        repository, a mark per change, and a
 *     _berth/usage/lease                                     snapshot of all records
 *                                                            (registry/policies/usage-store.ts)
 *     _berth/catalog/generation                              Berth only: changes whenever a Berth
 *                                                            process creates a repository, so every
 *                                                            process sharing the folder drops its
 *                                                            cached catalog (registry/catalog.ts)
 *     _berth/catalog/repositories/<name, "/" as ":">         Berth only: the filesystem driver's
 *     _berth/catalog/state, _berth/catalog/snapshot          repository index
 *                                                            (storage/filesystem/repository-index.ts)
 *     _berth/events/<endpoint>/pending/<key>                 Berth only: the notification outbox,
 *     _berth/events/<endpoint>/dead/<key>                    one file per event and endpoint, keys
 *                                                            in the order events happened
 *                                                            (notifications/outbox.ts)
 *
 * Callers pass names, tags and digests that `api/reference.ts` has already validated; the driver
 * checks the resulting path again.
 */
import type { Digest } from '../api/reference.js';

const ROOT = '/docker/registry/v2';
export const REPOSITORIES_ROOT = `${ROOT}/repositories`;
export const BLOBS_ROOT = `${ROOT}/blobs`;

export function blobData(digest: Digest): string {
  return `${BLOBS_ROOT}/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}/data`;
}

export function blobFolder(digest: Digest): string {
  return `${BLOBS_ROOT}/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}`;
}

export function repository(name: string): string {
  return `${REPOSITORIES_ROOT}/${name}`;
}

export function layersRoot(name: string): string {
  return `${repository(name)}/_layers`;
}

export function layerLink(name: string, digest: Digest): string {
  return `${layersRoot(name)}/${digest.algorithm}/${digest.hex}/link`;
}

export function manifestsRoot(name: string): string {
  return `${repository(name)}/_manifests`;
}

export function revisionsRoot(name: string): string {
  return `${manifestsRoot(name)}/revisions`;
}

export function revisionLink(name: string, digest: Digest): string {
  return `${revisionsRoot(name)}/${digest.algorithm}/${digest.hex}/link`;
}

export function revisionFolder(name: string, digest: Digest): string {
  return `${revisionsRoot(name)}/${digest.algorithm}/${digest.hex}`;
}

export function tagsRoot(name: string): string {
  return `${manifestsRoot(name)}/tags`;
}

export function tagFolder(name: string, tag: string): string {
  return `${tagsRoot(name)}/${tag}`;
}

export function tagCurrentLink(name: string, tag: string): string {
  return `${tagFolder(name, tag)}/current/link`;
}

export function tagIndexLink(name: string, tag: string, digest: Digest): string {
  return `${tagFolder(name, tag)}/index/${digest.algorithm}/${digest.hex}/link`;
}

export function uploadsRoot(name: string): string {
  return `${repository(name)}/_uploads`;
}

export function uploadFolder(name: string, uuid: string): string {
  return `${uploadsRoot(name)}/${uuid}`;
}

export function uploadData(name: string, uuid: string): string {
  return `${uploadFolder(name, uuid)}/data`;
}

export function uploadStartedAt(name: string, uuid: string): string {
  return `${uploadFolder(name, uuid)}/startedat`;
}

/** Berth's lock on one upload across processes (registry/upload-file-lock.ts); Distribution ignores it. */
export function uploadLock(name: string, uuid: string): string {
  return `${uploadFolder(name, uuid)}/lock`;
}

export function referrersFolder(name: string, subject: Digest): string {
  return `${repository(name)}/_referrers/${subject.algorithm}/${subject.hex}`;
}

export function referrerLink(name: string, subject: Digest, referrer: Digest): string {
  return `${referrersFolder(name, subject)}/${referrer.algorithm}/${referrer.hex}/link`;
}

/** A pull-through cache's records of what it fetched into a repository (registry/proxy/records.ts). */
export function proxyRecordsRoot(name: string): string {
  return `${repository(name)}/_proxy`;
}

export function proxyRecord(name: string, digest: Digest): string {
  return `${proxyRecordsRoot(name)}/${digest.algorithm}/${digest.hex}`;
}

/** Folder names inside a repository folder; anything else there is a nested repository. */
export const REPOSITORY_MARKERS = ['_manifests', '_layers'] as const;

/** A token rewritten whenever a Berth process may have created a repository (registry/catalog.ts). */
export const CATALOG_GENERATION = `${ROOT}/_berth/catalog/generation`;

/** The filesystem driver's repository index (storage/filesystem/repository-index.ts). */
export const CATALOG_INDEX = `${ROOT}/_berth/catalog`;

// Garbage collection's coordination files (registry/gc/protocol.ts, docs/garbage-collection.md).
const GC_ROOT = `${ROOT}/_berth/gc`;
/** One file per GC run in progress; its modification time is the run's start on the storage clock. */
export const GC_RUNS = `${GC_ROOT}/runs`;
/** One file per sweeping run: the digests it may delete. Writers wait while it names theirs. */
export const GC_TOMBSTONES = `${GC_ROOT}/tombstones`;
/** One file per write in progress: the digests it relies on. A sweep keeps them. */
export const GC_INTENTS = `${GC_ROOT}/intents`;
/** The lease that keeps two processes from collecting at once (efficiency only, not safety). */
export const GC_LOCK = `${GC_ROOT}/lock`;
/** Rewritten to read the storage's clock (its modification time) when no run file is at hand. */
export const GC_CLOCK = `${GC_ROOT}/clock`;

export function gcRun(runId: string): string {
  return `${GC_RUNS}/${runId}`;
}

export function gcTombstone(runId: string): string {
  return `${GC_TOMBSTONES}/${runId}`;
}

export function gcIntent(id: string): string {
  return `${GC_INTENTS}/${id}`;
}

// The notification outbox (notifications/outbox.ts, docs/notifications.md).
export const EVENTS_ROOT = `${ROOT}/_berth/events`;

/** Events still to deliver to an endpoint (`state` pending) or given up on (`dead`). */
export function eventsFolder(endpoint: string, state: 'pending' | 'dead'): string {
  return `${EVENTS_ROOT}/${endpoint}/${state}`;
}

export function eventFile(endpoint: string, state: 'pending' | 'dead', key: string): string {
  return `${eventsFolder(endpoint, state)}/${key}`;
}

/**
 * Where a path lies among the repositories, for indexes kept beside the tree (the S3 driver's
 * repository index): `links` when it is inside a repository's `_layers` or `_manifests` (writes
 * there can create the repository, deletes can end it), `subtree` when it is a repository folder
 * or a folder above repositories (a delete there can end every repository below `name`; "" is all).
 */
export function repositoryOfPath(path: string): { kind: 'links' | 'subtree'; name: string } | undefined {
  if (path === '/' || path === REPOSITORIES_ROOT || REPOSITORIES_ROOT.startsWith(`${path}/`)) {
    return { kind: 'subtree', name: '' };
  }
  if (!path.startsWith(`${REPOSITORIES_ROOT}/`)) return undefined;
  const rest = path.slice(REPOSITORIES_ROOT.length + 1);
  // Name components never start with "_", so the first "/_" ends the name.
  const end = rest.indexOf('/_');
  if (end === -1) return rest.startsWith('_') ? undefined : { kind: 'subtree', name: rest };
  const marker = rest.slice(end + 1).split('/')[0];
  return (REPOSITORY_MARKERS as readonly string[]).includes(marker ?? '')
    ? { kind: 'links', name: rest.slice(0, end) }
    : undefined;
}

// Repository policies (registry/policies/, docs/policies.md).
const POLICIES_ROOT = `${ROOT}/_berth/policies`;

/** A one-operation unlock of an immutable tag; `_tags` cannot be a name component, so names never collide. */
export function tagUnlock(name: string, tag: string): string {
  return `${POLICIES_ROOT}/unlocks/${name}/_tags/${tag}`;
}

/** When each manifest of a repository was last pulled (JSON: digest → milliseconds since the epoch). */
export function pullTimes(name: string): string {
  return `${POLICIES_ROOT}/pulls/${name}/_pulled`;
}

// Storage accounting (registry/policies/usage-store.ts, docs/policies.md#storage-accounting).
const USAGE_ROOT = `${ROOT}/_berth/usage`;

/** What one repository's manifests need (JSON); `_usage` cannot be a name component, so nested names never collide. */
export function usageRecord(name: string): string {
  return `${USAGE_ROOT}/repositories/${name}/_usage`;
}

/** One file per change to a record, naming its repository, until a snapshot folds it in. */
export const USAGE_CHANGES = `${USAGE_ROOT}/changes`;

export function usageChange(key: string): string {
  return `${USAGE_CHANGES}/${key}`;
}

/** Every record at once, one file per snapshot written; `USAGE_STATE` names the current one. */
export const USAGE_SNAPSHOTS = `${USAGE_ROOT}/snapshots`;

export function usageSnapshot(id: string): string {
  return `${USAGE_SNAPSHOTS}/${id}`;
}

/** Which snapshot is current, what it folded in, and when storage was last walked to verify the records. */
export const USAGE_STATE = `${USAGE_ROOT}/state`;

/** Held by the process verifying or compacting the records, so the processes sharing storage take turns. */
export const USAGE_LEASE = `${USAGE_ROOT}/lease`;

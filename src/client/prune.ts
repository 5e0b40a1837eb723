/**
 * Retention for one repository's tags. Each tag gets a time: the image config's `created`, or the
 * manifest's `org.opencontainers.image.created` annotation when the config has none (for an index,
 * its annotation, else the newest `created` of its platforms). Then a tag is kept when any rule
 * protects it: among the newest `keepLast`, matching a `keep` pattern, younger than `olderThan`,
 * or without a known time. Everything else is deleted.
 *
 * Deleting a manifest drops every tag pointing to it, so a deleted tag whose manifest a kept tag
 * still uses (directly or as a platform of a kept index) is only untagged. The plan is computed
 * the same way for `--dry-run` and for the real run.
 */
import { parseDuration } from '../config/duration.js';
import { ClientError } from './errors.js';
import type { RegistryClient } from './registry-client.js';
import { CREATED_ANNOTATION, isIndex, type FetchedManifest, type ImageConfig } from './types.js';

export interface PruneRules {
  /** Keep the newest N tags. */
  keepLast?: number;
  /** Keep tags matching any of these. */
  keep?: RegExp[];
  /** Keep tags created less than this many milliseconds ago. */
  olderThanMs?: number;
  /** "Now", for age computations (default: the current time). */
  now?: Date;
}

export type PruneAction = 'keep' | 'delete-manifest' | 'untag';

export interface TagDecision {
  tag: string;
  digest: string;
  /** ISO 8601 creation time, when known. */
  created?: string;
  /** Where the time came from. */
  createdFrom?: 'config' | 'annotation';
  action: PruneAction;
  reason: string;
}

export interface PrunePlan {
  repository: string;
  decisions: TagDecision[];
}

export interface PruneOutcome {
  tag: string;
  digest: string;
  action: Exclude<PruneAction, 'keep'>;
  ok: boolean;
  error?: string;
}

/** `30d`, `2w`, `12h`, `1h30m`, `90s`: a duration in milliseconds, or undefined when not one. */
export function parseAge(text: string): number | undefined {
  const match = /^\s*(?:(\d+)w)?(?:(\d+)d)?(.*)$/.exec(text);
  if (!match) return undefined;
  const weeks = Number(match[1] ?? 0);
  const days = Number(match[2] ?? 0);
  const rest = match[3]!.trim();
  const restMs = rest ? parseDuration(rest) : 0;
  if (restMs === undefined) return undefined;
  if (!match[1] && !match[2] && !rest) return undefined;
  return (weeks * 7 + days) * 24 * 3600 * 1000 + restMs;
}

function validDate(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const time = Date.parse(value);
  return Number.isFinite(time) ? new Date(time).toISOString() : undefined;
}

/** The creation time of a manifest, read as the module comment describes. */
export async function creationTime(
  registry: RegistryClient,
  repository: string,
  fetched: FetchedManifest,
): Promise<{ created?: string; from?: 'config' | 'annotation' }> {
  const { manifest } = fetched;
  if (isIndex(manifest, fetched.mediaType)) {
    const annotated = validDate(manifest.annotations?.[CREATED_ANNOTATION]);
    if (annotated) return { created: annotated, from: 'annotation' };
    let newest: { created?: string; from?: 'config' | 'annotation' } = {};
    for (const child of manifest.manifests ?? []) {
      if (child.mediaType?.includes('index') || child.mediaType?.includes('list')) continue;
      const childManifest = await registry.getManifest(repository, child.digest).catch(() => undefined);
      if (!childManifest) continue;
      const time = await creationTime(registry, repository, childManifest);
      if (time.created && (!newest.created || time.created > newest.created)) newest = time;
    }
    return newest;
  }
  const config = manifest.config;
  if (config?.digest && config.size <= 4 * 1024 * 1024 && !config.mediaType?.includes('empty')) {
    try {
      const bytes = await registry.getBlobBytes(repository, config.digest);
      const created = validDate((JSON.parse(bytes.toString('utf8')) as ImageConfig).created);
      if (created) return { created, from: 'config' };
    } catch (error) {
      if (error instanceof ClientError && error.kind !== 'not-found' && error.kind !== 'failure') throw error;
    }
  }
  const annotated = validDate(manifest.annotations?.[CREATED_ANNOTATION]);
  return annotated ? { created: annotated, from: 'annotation' } : {};
}

/** Digests of a manifest and, for an index, of its platforms. */
function closure(fetched: FetchedManifest): string[] {
  const digests = [fetched.digest];
  if (isIndex(fetched.manifest, fetched.mediaType))
    for (const child of fetched.manifest.manifests ?? []) digests.push(child.digest);
  return digests;
}

export async function planPrune(registry: RegistryClient, repository: string, rules: PruneRules): Promise<PrunePlan> {
  if (rules.keepLast === undefined && rules.olderThanMs === undefined) {
    throw new ClientError(
      'usage',
      'prune needs --keep-last N or --older-than DURATION (or both): without them every tag would go',
      {
        hint: 'for example: berth prune REPO --keep-last 10 --dry-run',
      },
    );
  }
  const now = (rules.now ?? new Date()).getTime();
  const tags = await registry.tags(repository);
  const infos: Array<{ tag: string; manifest: FetchedManifest; created?: string; from?: 'config' | 'annotation' }> = [];
  for (const tag of tags) {
    const manifest = await registry.getManifest(repository, tag);
    const time = await creationTime(registry, repository, manifest);
    infos.push({ tag, manifest, created: time.created, from: time.from });
  }
  const dated = infos
    .filter((info) => info.created)
    .sort((a, b) => b.created!.localeCompare(a.created!) || b.tag.localeCompare(a.tag));
  const newest = new Set(dated.slice(0, rules.keepLast ?? 0).map((info) => info.tag));
  const decisions: TagDecision[] = infos.map((info) => {
    const base = {
      tag: info.tag,
      digest: info.manifest.digest,
      ...(info.created ? { created: info.created, createdFrom: info.from } : {}),
    };
    const keep = (reason: string): TagDecision => ({ ...base, action: 'keep', reason });
    if (!info.created) return keep('no creation time (neither config "created" nor annotation)');
    if (rules.keepLast !== undefined && newest.has(info.tag)) return keep(`among the newest ${rules.keepLast}`);
    const pattern = rules.keep?.find((regex) => regex.test(info.tag));
    if (pattern) return keep(`matches ${pattern.source}`);
    if (rules.olderThanMs !== undefined && now - Date.parse(info.created) < rules.olderThanMs)
      return keep('younger than --older-than');
    return {
      ...base,
      action: 'delete-manifest',
      reason: rules.keepLast !== undefined ? `older than the newest ${rules.keepLast}` : 'older than --older-than',
    };
  });
  // A manifest still used by a kept tag must stay: those deletions become untags.
  const protectedDigests = new Set<string>();
  infos.forEach((info, position) => {
    if (decisions[position]!.action === 'keep')
      for (const digest of closure(info.manifest)) protectedDigests.add(digest);
  });
  for (const decision of decisions) {
    if (decision.action === 'delete-manifest' && protectedDigests.has(decision.digest)) {
      decision.action = 'untag';
      decision.reason += '; its manifest is still used by a kept tag, so only the tag goes';
    }
  }
  decisions.sort((a, b) => a.tag.localeCompare(b.tag));
  return { repository, decisions };
}

/** Carries out a plan: untags first, then each doomed manifest once. Failures are reported, not thrown. */
export async function executePrune(registry: RegistryClient, plan: PrunePlan): Promise<PruneOutcome[]> {
  const outcomes: PruneOutcome[] = [];
  const deleted = new Map<string, PruneOutcome>();
  for (const decision of plan.decisions.filter((entry) => entry.action === 'untag')) {
    try {
      await registry.deleteTag(plan.repository, decision.tag);
      outcomes.push({ tag: decision.tag, digest: decision.digest, action: 'untag', ok: true });
    } catch (error) {
      outcomes.push({
        tag: decision.tag,
        digest: decision.digest,
        action: 'untag',
        ok: false,
        error: (error as Error).message,
      });
    }
  }
  for (const decision of plan.decisions.filter((entry) => entry.action === 'delete-manifest')) {
    const previous = deleted.get(decision.digest);
    if (previous) {
      outcomes.push({ ...previous, tag: decision.tag });
      continue;
    }
    let outcome: PruneOutcome;
    try {
      await registry.deleteManifest(plan.repository, decision.digest);
      outcome = { tag: decision.tag, digest: decision.digest, action: 'delete-manifest', ok: true };
    } catch (error) {
      outcome = {
        tag: decision.tag,
        digest: decision.digest,
        action: 'delete-manifest',
        ok: false,
        error: (error as Error).message,
      };
    }
    deleted.set(decision.digest, outcome);
    outcomes.push(outcome);
  }
  return outcomes;
}

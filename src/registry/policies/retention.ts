/**
 * Retention (`berth.retention`, docs/policies.md): which manifests of a repository to delete,
 * decided by the first policy whose pattern matches the repository, every decision with the rule
 * that made it.
 *
 * 1. Each tag is kept when any keep rule keeps it: an immutability rule, `keep.tags` patterns,
 *    `keep.last` (the N most recently pushed), `keep.pushedwithin`, `keep.pulledwithin`.
 * 2. A tagged manifest is kept when any of its tags is kept (Harbor's artifact rule: a kept tag
 *    never loses its image), else deleted with all its tags.
 * 3. Everything a kept manifest needs is kept: the children of an index, and its referrers
 *    (signatures, SBOMs), recursively.
 * 4. A manifest no tag names and nothing kept needs is deleted when the policy sets `untagged`
 *    and it was neither pushed nor pulled within that age; else it stays.
 *
 * A real run deletes through the registry (so tags, referrer links and accounting follow), logs
 * each decision, and reports each deleted manifest to `onDelete` (notification events). The bytes
 * are freed by the garbage collection that follows. A manifest that gained a tag since it was
 * judged is left alone.
 */
import type { Logger } from 'pino';
import { parseDigest } from '../../api/reference.js';
import type { RetentionConfig, RetentionPolicyConfig } from '../../config/policies.js';
import { ManifestGraph } from '../gc/graph.js';
import { scanRepository, type RepositoryScan } from '../gc/scan.js';
import type { Registry } from '../registry.js';
import { patternList, type PatternList } from './patterns.js';

export interface RetentionDecision {
  repository: string;
  digest: string;
  /** Tags naming the manifest (all go with it when it is deleted). */
  tags: string[];
  action: 'keep' | 'delete';
  /** The configuration key that decided, such as `berth.retention.policies[0].keep.last`. */
  rule: string;
  /** Why, in words. */
  reason: string;
  /** When the manifest (its most recent tag, or its revision) was pushed, and last pulled (ISO). */
  pushed: string;
  pulled?: string;
}

export interface RetentionReport {
  dryRun: boolean;
  /** The evaluation's "now" (ISO). */
  at: string;
  repositories: number;
  kept: number;
  deleted: number;
  /** Manifests judged for deletion but left alone because they changed meanwhile. */
  skipped: number;
  decisions: RetentionDecision[];
}

export interface RetentionOptions {
  dryRun: boolean;
  /** Only repositories this accepts (all matching a policy when absent). */
  include?: (name: string) => boolean;
  signal?: AbortSignal;
}

interface Policy {
  key: string;
  config: RetentionPolicyConfig;
  repositories: PatternList;
  keepTags?: PatternList;
}

const DAY = 86_400_000;

function isReferrer(scan: RepositoryScan, digest: string): boolean {
  for (const referrers of scan.referrers.values()) if (referrers.has(digest)) return true;
  return false;
}

/** A duration in the words of the configuration (`30d`, `12h`, `90m`). */
function spoken(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

export class Retention {
  private readonly policies: Policy[];

  constructor(
    private readonly registry: Registry,
    config: RetentionConfig | undefined,
    private readonly options: {
      logger?: Logger;
      /** The clock "within" rules are measured against (tests set it). */
      now?: () => number;
      onDelete?: (deleted: Array<{ repository: string; digest: string; tags: string[] }>) => Promise<void>;
    } = {},
  ) {
    this.policies = (config?.policies ?? []).map((policy, at) => ({
      key: `berth.retention.policies[${at}]`,
      config: policy,
      repositories: patternList(policy.repositories),
      keepTags: policy.keep.tags ? patternList(policy.keep.tags) : undefined,
    }));
  }

  get enabled(): boolean {
    return this.policies.length > 0;
  }

  policyFor(name: string): Policy | undefined {
    return this.policies.find((policy) => policy.repositories.match(name));
  }

  async run(options: RetentionOptions): Promise<RetentionReport> {
    const now = (this.options.now ?? Date.now)();
    const graph = new ManifestGraph(this.registry.driver);
    const names = (await this.registry.catalog.all()).filter(
      (name) => this.policyFor(name) && (!options.include || options.include(name)),
    );
    const report: RetentionReport = {
      dryRun: options.dryRun,
      at: new Date(now).toISOString(),
      repositories: names.length,
      kept: 0,
      deleted: 0,
      skipped: 0,
      decisions: [],
    };
    for (const name of names) {
      if (options.signal?.aborted) break;
      const decisions = await this.decide(name, this.policyFor(name)!, graph, now);
      report.decisions.push(...decisions);
      if (!options.dryRun) await this.apply(name, decisions, report);
    }
    report.kept = report.decisions.filter((decision) => decision.action === 'keep').length;
    report.deleted = report.decisions.filter((decision) => decision.action === 'delete').length - report.skipped;
    this.options.logger?.info(
      { retention: { ...report, decisions: undefined } },
      options.dryRun ? 'retention dry run finished' : 'retention finished',
    );
    return report;
  }

  /** The decisions for one repository, manifests in digest order. */
  async decide(name: string, policy: Policy, graph: ManifestGraph, now: number): Promise<RetentionDecision[]> {
    const scan = await scanRepository(this.registry.driver, name);
    const pulls = await this.registry.pulls.pulledAt(name);
    const keep = policy.config.keep;
    const key = `${policy.key}.keep`;

    // 1. Tags, newest push first (ties by name, for a stable order).
    const tags = [...scan.tags.entries()]
      .filter(([, tag]) => scan.revisions.has(tag.digest))
      .sort(([a, x], [b, y]) => y.mtime - x.mtime || (a < b ? -1 : 1));
    const keptTag = new Map<string, { rule: string; reason: string }>();
    for (const [rank, [tag, { digest, mtime }]] of tags.entries()) {
      const pulled = pulls.get(digest);
      const immutable = this.registry.immutable.ruleFor(name, tag);
      const matched = policy.keepTags?.match(tag);
      let why: { rule: string; reason: string } | undefined;
      if (immutable) why = { rule: immutable, reason: `tag ${tag} is immutable` };
      else if (matched) why = { rule: `${key}.tags`, reason: `tag ${tag} matches ${matched}` };
      else if (keep.last !== undefined && rank < keep.last)
        why = { rule: `${key}.last`, reason: `tag ${tag} is among the ${keep.last} most recently pushed` };
      else if (keep.pushedwithin !== undefined && now - mtime <= keep.pushedwithin)
        why = { rule: `${key}.pushedwithin`, reason: `tag ${tag} was pushed within ${spoken(keep.pushedwithin)}` };
      else if (keep.pulledwithin !== undefined && pulled !== undefined && now - pulled <= keep.pulledwithin)
        why = { rule: `${key}.pulledwithin`, reason: `tag ${tag} was pulled within ${spoken(keep.pulledwithin)}` };
      if (why) keptTag.set(tag, why);
    }

    // 2. Manifests by their tags.
    const tagsOf = new Map<string, string[]>();
    for (const [tag, { digest }] of tags) tagsOf.set(digest, [...(tagsOf.get(digest) ?? []), tag].sort());
    const decided = new Map<string, { action: 'keep' | 'delete'; rule: string; reason: string }>();
    for (const [digest, names] of tagsOf) {
      const kept = names.find((tag) => keptTag.has(tag));
      decided.set(
        digest,
        kept
          ? { action: 'keep', ...keptTag.get(kept)! }
          : {
              action: 'delete',
              rule: key,
              reason: `no keep rule keeps tag${names.length > 1 ? 's' : ''} ${names.join(', ')}`,
            },
      );
    }

    // 3. What kept manifests need, with the manifest that needs it.
    for (const [root, decision] of [...decided]) {
      if (decision.action !== 'keep') continue;
      const reached = await graph.walk(scan, [root], new Set());
      for (const digest of reached) {
        if (digest === root || !scan.revisions.has(digest) || decided.get(digest)?.action === 'keep') continue;
        decided.set(digest, {
          action: 'keep',
          rule: `${policy.key}`,
          reason: `needed by kept ${root} (${isReferrer(scan, digest) ? 'a referrer' : 'an index child'})`,
        });
      }
    }

    // 4. The rest: untagged manifests nothing kept needs.
    const untagged = policy.config.untagged;
    for (const [digest, pushed] of scan.revisions) {
      if (decided.has(digest)) continue;
      const last = Math.max(pushed, pulls.get(digest) ?? 0);
      if (untagged === undefined)
        decided.set(digest, { action: 'keep', rule: policy.key, reason: 'untagged; the policy sets no untagged age' });
      else if (now - last > untagged)
        decided.set(digest, {
          action: 'delete',
          rule: `${policy.key}.untagged`,
          reason: `untagged, not pushed or pulled within ${spoken(untagged)}`,
        });
      else
        decided.set(digest, {
          action: 'keep',
          rule: `${policy.key}.untagged`,
          reason: `untagged, pushed or pulled within ${spoken(untagged)}`,
        });
    }

    return [...decided.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([digest, decision]) => {
        const names = tagsOf.get(digest) ?? [];
        const pushed = Math.max(scan.revisions.get(digest) ?? 0, ...names.map((tag) => scan.tags.get(tag)!.mtime));
        const pulled = pulls.get(digest);
        return {
          repository: name,
          digest,
          tags: names,
          ...decision,
          pushed: new Date(pushed).toISOString(),
          ...(pulled === undefined ? {} : { pulled: new Date(pulled).toISOString() }),
        };
      });
  }

  /** Deletes what was decided, unless the manifest gained a tag meanwhile; logs every decision. */
  private async apply(name: string, decisions: RetentionDecision[], report: RetentionReport): Promise<void> {
    const deleted: Array<{ repository: string; digest: string; tags: string[] }> = [];
    for (const decision of decisions) {
      const { logger } = this.options;
      if (decision.action === 'keep') {
        logger?.info({ retention: decision }, `retention: keep ${name}@${decision.digest}: ${decision.reason}`);
        continue;
      }
      const parsed = parseDigest(decision.digest);
      if (!parsed.ok) continue;
      const now = await this.registry.tags.tagsFor(name, parsed.digest);
      if (now.some((tag) => !decision.tags.includes(tag))) {
        report.skipped += 1;
        logger?.warn(
          { retention: decision, tags: now },
          `retention: left ${name}@${decision.digest}: tagged meanwhile`,
        );
        continue;
      }
      try {
        const tags = await this.registry.deleteManifest(name, parsed.digest);
        deleted.push({ repository: name, digest: decision.digest, tags });
        logger?.info({ retention: decision }, `retention: deleted ${name}@${decision.digest}: ${decision.reason}`);
      } catch (error) {
        report.skipped += 1;
        logger?.warn({ err: error, retention: decision }, `retention: could not delete ${name}@${decision.digest}`);
      }
    }
    if (deleted.length > 0) await this.options.onDelete?.(deleted);
  }
}

/**
 * Quotas (`berth.quotas`, docs/policies.md): byte and tag-count limits per repository or per
 * namespace, counted on the deduplicated figures of storage accounting, so a layer two
 * repositories of one namespace share counts once in that namespace, and pushing a layer the
 * repository already holds costs nothing.
 *
 * A manifest PUT that would take usage past a limit is refused with DENIED naming the quota and
 * the usage; a blob upload is refused at its start when a byte limit is already reached. Usage
 * at or past `warnat` percent of a limit after a push is logged as a warning.
 */
import type { Logger } from 'pino';
import type { QuotaRuleConfig, QuotasConfig } from '../../config/policies.js';
import { QuotaExceededError } from '../errors.js';
import type { ParsedManifest } from '../manifests/parse.js';
import type { StorageAccounting } from './accounting.js';
import { patternList, type PatternList } from './patterns.js';
import { namespaceOf, type UsageIndex } from './usage-index.js';

interface Rule {
  label: string;
  kind: 'repository' | 'namespace';
  patterns: PatternList;
  bytes?: number;
  tags?: number;
}

/** A rule as it applies to one repository: the scope whose usage it limits. */
interface Applied {
  rule: Rule;
  scope: { repository: string } | { namespace: string };
  /** What the scope is called in messages. */
  what: string;
}

export interface QuotaCheck {
  quota: string;
  scope: string;
  bytes: { used: number; adding: number; limit?: number };
  tags: { used: number; adding: number; limit?: number };
}

function describe(rule: QuotaRuleConfig, at: number): string {
  const limits = [
    ...(rule.bytes === undefined ? [] : [`${rule.bytes} bytes`]),
    ...(rule.tags === undefined ? [] : [`${rule.tags} tags`]),
  ].join(', ');
  const scope = rule.repositories
    ? `each repository of ${rule.repositories.join(', ')}`
    : `each namespace of ${rule.namespaces!.join(', ')}`;
  return `berth.quotas.rules[${at}] (${limits} for ${scope})`;
}

export class Quotas {
  private readonly rules: Rule[];
  private readonly warnAt: number;

  constructor(
    private readonly accounting: StorageAccounting,
    config: QuotasConfig | undefined,
    private readonly logger?: Logger,
  ) {
    this.warnAt = (config?.warnat ?? 80) / 100;
    this.rules = (config?.rules ?? []).map((rule, at) => ({
      label: describe(rule, at),
      kind: rule.repositories ? 'repository' : 'namespace',
      patterns: patternList(rule.repositories ?? rule.namespaces ?? []),
      bytes: rule.bytes,
      tags: rule.tags,
    }));
  }

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The rules that limit `name`, with the scope each one counts. */
  private applied(name: string): Applied[] {
    const namespace = namespaceOf(name);
    return this.rules.flatMap((rule): Applied[] => {
      if (rule.kind === 'repository')
        return rule.patterns.match(name) ? [{ rule, scope: { repository: name }, what: `repository ${name}` }] : [];
      return rule.patterns.match(namespace) ? [{ rule, scope: { namespace }, what: `namespace ${namespace}` }] : [];
    });
  }

  private static usage(index: UsageIndex, applied: Applied): { bytes: number; tags: number } {
    const figures =
      'repository' in applied.scope
        ? index.repository(applied.scope.repository)
        : index.namespace(applied.scope.namespace);
    return { bytes: figures?.logical ?? 0, tags: figures?.tags ?? 0 };
  }

  /**
   * Refuses a manifest that would take a scope past a limit: `newTags` is how many of its tags do
   * not exist yet in the repository.
   */
  async assertMayPush(name: string, manifest: ParsedManifest, newTags: number): Promise<QuotaCheck[]> {
    const applied = this.applied(name);
    if (applied.length === 0) return [];
    const digests = [
      manifest.digest.value,
      ...(manifest.config ? [manifest.config.digest.value] : []),
      ...manifest.layers.map((layer) => layer.digest.value),
      ...manifest.manifests.map((child) => child.digest.value),
    ];
    this.accounting.noteSize(manifest.digest.value, manifest.bytes.length);
    await this.accounting.learnSizes(digests);
    const index = await this.accounting.current();
    const checks = applied.map(({ rule, scope, what }): QuotaCheck => {
      const used = Quotas.usage(index, { rule, scope, what });
      return {
        quota: rule.label,
        scope: what,
        bytes: { used: used.bytes, adding: index.addedBytes(scope, digests), limit: rule.bytes },
        tags: { used: used.tags, adding: newTags, limit: rule.tags },
      };
    });
    for (const check of checks) {
      for (const kind of ['bytes', 'tags'] as const) {
        const { used, adding, limit } = check[kind];
        if (limit !== undefined && adding > 0 && used + adding > limit)
          throw new QuotaExceededError(check.quota, check.scope, kind, used, adding, limit);
      }
    }
    return checks;
  }

  /** After an accepted push: a warning for each limit at or past the threshold. */
  warnIfNear(checks: QuotaCheck[]): void {
    for (const check of checks) {
      for (const kind of ['bytes', 'tags'] as const) {
        const { used, adding, limit } = check[kind];
        if (limit === undefined || adding === 0 || used + adding < limit * this.warnAt) continue;
        this.logger?.warn(
          { quota: check.quota, scope: check.scope, kind, used: used + adding, limit },
          `quota: ${check.scope} uses ${used + adding} of ${limit} ${kind} (${Math.round(((used + adding) / limit) * 100)} %, warning at ${Math.round(this.warnAt * 100)} %): ${check.quota}`,
        );
      }
    }
  }

  /** Refuses starting a blob upload into a scope whose byte limit is already reached. */
  async assertMayUpload(name: string): Promise<void> {
    const applied = this.applied(name).filter(({ rule }) => rule.bytes !== undefined);
    if (applied.length === 0) return;
    const index = await this.accounting.current();
    for (const entry of applied) {
      const used = Quotas.usage(index, entry).bytes;
      if (used >= entry.rule.bytes!)
        throw new QuotaExceededError(entry.rule.label, entry.what, 'bytes', used, 0, entry.rule.bytes!);
    }
  }
}

/**
 * The `berth:` keys of repository policies (docs/policies.md): retention, immutable tags, quotas,
 * and the bookkeeping they rely on (pull times, storage accounting). Spread into `berth` by
 * schema.ts. Repository and tag patterns use the access rules' grammar (src/api/pattern.ts) and
 * are checked here, so a bad one stops start-up with the key's name.
 */
import { z } from 'zod';
import { compilePattern, PatternError } from '../api/pattern.js';
import { parseDuration } from './duration.js';

const DAY_MS = 24 * 3_600_000;

/**
 * Retention ages run to weeks and months, so besides Go's units (`720h`) a whole number of days
 * is accepted (`30d`), which Distribution's own duration keys do not need.
 */
export function parsePolicyDuration(text: string): number | undefined {
  const days = /^\s*(\d+)d\s*$/.exec(text);
  if (days) return Number(days[1]) * DAY_MS;
  return parseDuration(text);
}

const age = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = typeof value === 'number' ? value * 1000 : parsePolicyDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: `"${value}" is not a duration (for example 30d, 72h, 10m)` });
    return z.NEVER;
  }
  return ms;
});

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Bytes in `10GiB`, `500MB`, `1.5TB` or a bare number; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match && SIZE_UNITS[match[2]!.toLowerCase()];
  if (!match || unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * (unit ?? 1));
}

const size = z.union([z.string(), z.number()]).transform((value, context) => {
  const parsed = typeof value === 'number' ? value : parseSize(value);
  if (parsed === undefined || !Number.isSafeInteger(parsed) || parsed < 0) {
    context.addIssue({ code: 'custom', message: `"${value}" is not a size (for example 10GiB, 500MB, 1048576)` });
    return z.NEVER;
  }
  return parsed;
});

const count = z.coerce.number().int().nonnegative();

/** A repository (or tag) pattern: checked now; `${user}` has no meaning outside access rules. */
const pattern = z.string().superRefine((value, context) => {
  try {
    if (compilePattern(value).personal) context.addIssue({ code: 'custom', message: '${user} is not allowed here' });
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    context.addIssue({ code: 'custom', message: error.message });
  }
});
const patterns = z.union([pattern.transform((value) => [value]), z.array(pattern)]);

/** What a retention policy keeps; a tag is kept when any of these keeps it. */
const keep = z.strictObject({
  /** The N most recently pushed tags. */
  last: count.optional(),
  /** Tags matching any of these patterns. */
  tags: patterns.optional(),
  /** Tags pushed within this long. */
  pushedwithin: age.optional(),
  /** Tags whose image was pulled within this long. */
  pulledwithin: age.optional(),
});

const retentionPolicy = z.strictObject({
  /** Repositories the policy applies to; the first policy that matches a repository is its policy. */
  repositories: patterns,
  keep: keep.prefault({}),
  /** Untagged manifests no kept image needs are deleted once pushed and not pulled for this long. */
  untagged: age.optional(),
});

const retention = z.strictObject({
  /** Evaluated before every online garbage collection run (scheduled or at the admin endpoint). */
  withgc: z.boolean().default(true),
  policies: z.array(retentionPolicy).default([]),
});

const immutableRule = z.strictObject({
  repositories: patterns,
  tags: patterns,
});

const quotaRule = z
  .strictObject({
    /** Each matching repository has its own limit. */
    repositories: patterns.optional(),
    /** Each matching namespace (a name's first component) has one limit for all its repositories. */
    namespaces: patterns.optional(),
    bytes: size.optional(),
    tags: count.optional(),
  })
  .refine((rule) => (rule.repositories === undefined) !== (rule.namespaces === undefined), {
    message: 'set exactly one of repositories or namespaces',
  })
  .refine((rule) => rule.bytes !== undefined || rule.tags !== undefined, { message: 'set bytes, tags or both' });

const quotas = z.strictObject({
  /** Usage at which a warning is logged, in percent of a limit. */
  warnat: z.coerce.number().min(1).max(100).default(80),
  rules: z.array(quotaRule).default([]),
});

const pulls = z.strictObject({
  /** Record pull times at all (retention's keep.pulledwithin needs them). */
  record: z.boolean().default(true),
  /** How often pull times kept in memory are written to storage. */
  flushinterval: age.default(30_000),
});

const accounting = z.strictObject({
  /** How often storage is walked to verify the accounting records (finding other programs' writes); 0: never. */
  rescan: age.default(15 * 60_000),
});

/** Keys added to `berth:`. */
export const policyKeys = {
  retention: retention.prefault({}),
  immutabletags: z.array(immutableRule).default([]),
  quotas: quotas.prefault({}),
  pulls: pulls.prefault({}),
  accounting: accounting.prefault({}),
};

export type RetentionConfig = z.infer<typeof retention>;
export type RetentionPolicyConfig = z.infer<typeof retentionPolicy>;
export type ImmutableRuleConfig = z.infer<typeof immutableRule>;
export type QuotasConfig = z.infer<typeof quotas>;
export type QuotaRuleConfig = z.infer<typeof quotaRule>;

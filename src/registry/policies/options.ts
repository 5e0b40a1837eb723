/** What the registry's policies are made from: the `berth:` policy keys, and where they log. */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { ImmutableRuleConfig, QuotasConfig } from '../../config/policies.js';

export interface PolicyOptions {
  immutableTags?: readonly ImmutableRuleConfig[];
  quotas?: QuotasConfig;
  /** `berth.accounting.rescan`: how often storage accounting verifies its records against a walk of storage. */
  accountingRescanMs?: number;
  /** `storage.maintenance.readonly`: the policies' own bookkeeping (storage accounting) writes nothing either. */
  readOnly?: boolean;
  /** `berth.pulls.flushinterval`: how often pull times are written to storage; 0: only when asked. */
  pullsFlushMs?: number;
  /** `berth.pulls.record`: false records no pull times. */
  recordPulls?: boolean;
  /** The clock pull times are recorded with (tests set it). */
  now?: () => number;
  logger?: Logger;
}

export function policyOptions(config: Config, logger?: Logger): PolicyOptions {
  return {
    immutableTags: config.berth.immutabletags,
    quotas: config.berth.quotas,
    accountingRescanMs: config.berth.accounting.rescan,
    readOnly: config.storage.maintenance.readonly?.enabled ?? false,
    pullsFlushMs: config.berth.pulls.flushinterval,
    recordPulls: config.berth.pulls.record,
    logger,
  };
}

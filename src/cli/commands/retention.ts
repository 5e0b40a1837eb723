/**
 * `berth retention [config] [--dry-run] [--json] [--repositories <pattern>]`: evaluates
 * `berth.retention` on the storage directly and, unless `--dry-run`, deletes the manifests no
 * rule keeps. Every decision is printed with the rule that made it; start with `--dry-run`
 * (docs/policies.md). The bytes are freed by the next garbage collection. Deletions are written
 * to the notification outbox, which a running server delivers. Pull times are what the server
 * has written (every `berth.pulls.flushinterval`).
 */
import type { Command } from 'commander';
import { PatternError } from '../../api/pattern.js';
import { ConfigError } from '../../config/load.js';
import { Notifier } from '../../notifications/notifier.js';
import { recordRetentionDeletes } from '../../notifications/retention.js';
import { repositoryFilter } from '../../registry/policies/patterns.js';
import { Retention, type RetentionReport } from '../../registry/policies/retention.js';
import { openStorage, stderrLogger } from '../offline.js';

interface RetentionCliOptions {
  dryRun?: boolean;
  json?: boolean;
  repositories?: string;
}

export function formatDecisions(report: RetentionReport): string {
  const lines = report.decisions.map(
    (decision) =>
      `${decision.action === 'keep' ? 'keep  ' : 'delete'} ${decision.repository}@${decision.digest}${decision.tags.length > 0 ? ` (${decision.tags.join(', ')})` : ''}: ${decision.reason} [${decision.rule}]`,
  );
  const verb = report.dryRun ? 'would be deleted' : 'deleted';
  lines.push(
    '',
    `${report.repositories} repositories: ${report.kept} manifests kept, ${report.deleted} ${verb}${report.skipped > 0 ? `, ${report.skipped} left (changed meanwhile)` : ''}`,
  );
  if (!report.dryRun && report.deleted > 0) lines.push('run garbage collection to free their bytes');
  return `${lines.join('\n')}\n`;
}

export async function retention(configPath: string | undefined, options: RetentionCliOptions): Promise<void> {
  let include: ((name: string) => boolean) | undefined;
  try {
    include = repositoryFilter(options.repositories);
  } catch (error) {
    if (error instanceof PatternError) throw new ConfigError(error.message);
    throw error;
  }
  const { config, registry } = openStorage(configPath);
  if (config.berth.retention.policies.length === 0)
    throw new ConfigError('berth.retention.policies is empty: there is nothing to evaluate');
  const logger = stderrLogger(config, true);
  const notifier = new Notifier(config.notifications, registry.driver, { logger });
  const runner = new Retention(registry, config.berth.retention, {
    logger,
    onDelete: (deleted) => recordRetentionDeletes(notifier, deleted),
  });
  const report = await runner.run({ dryRun: options.dryRun ?? false, include });
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDecisions(report));
}

export function registerRetention(program: Command): void {
  program
    .command('retention')
    .description('apply berth.retention: delete the manifests no rule keeps (start with --dry-run)')
    .argument('[config]', 'Distribution-format config.yml (default: the built-in configuration)')
    .option('-d, --dry-run', 'list every decision; delete nothing')
    .option('--repositories <pattern>', 'only repositories matching this pattern')
    .option('--json', 'print the report as JSON')
    .action((config: string | undefined, options: RetentionCliOptions) => retention(config, options));
}

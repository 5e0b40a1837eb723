/**
 * `berth garbage-collect [config.yml] [--dry-run] [--delete-untagged] [--quiet]`: Distribution's
 * `registry garbage-collect`, with its flags and its output (the mark lines, "N blobs marked, M
 * blobs and K manifests eligible for deletion", one line per blob), plus the bytes it frees.
 *
 * It follows the same protocol as the server's online collection (docs/garbage-collection.md),
 * so it may run while Berth serves the same storage; unreferenced blobs and untagged manifests
 * younger than the grace period (`berth.gc.graceperiod`, or `--grace-period`) are kept.
 * `--dry-run` changes nothing on storage.
 */
import type { Command } from 'commander';
import { parseDuration } from '../../config/duration.js';
import { ConfigError } from '../../config/load.js';
import { GarbageCollector } from '../../registry/gc/collector.js';
import { openStorage, stderrLogger } from '../offline.js';

export interface GarbageCollectOptions {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  quiet?: boolean;
  gracePeriod?: string;
  json?: boolean;
}

export async function garbageCollect(configPath: string | undefined, options: GarbageCollectOptions): Promise<void> {
  const { config, registry } = openStorage(configPath);
  let gracePeriodMs = config.berth.gc.graceperiod;
  if (options.gracePeriod !== undefined) {
    const parsed = parseDuration(options.gracePeriod);
    if (parsed === undefined)
      throw new ConfigError(`--grace-period "${options.gracePeriod}" is not a duration (for example 24h, 10m, 0s)`);
    gracePeriodMs = parsed;
  }
  const logger = stderrLogger(config, options.quiet);
  const quietOutput = options.quiet || options.json;
  const emit = quietOutput ? () => undefined : (line: string) => void process.stdout.write(`${line}\n`);
  const report = await new GarbageCollector(registry, logger).collect({
    dryRun: options.dryRun ?? false,
    deleteUntagged: options.deleteUntagged ?? config.berth.gc.deleteuntagged,
    gracePeriodMs,
    emit,
  });
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

export function registerGarbageCollect(program: Command): void {
  program
    .command('garbage-collect')
    .description('delete blobs no kept manifest references (safe while Berth serves the same storage)')
    .argument('[config]', 'Distribution-format config.yml (default: the built-in configuration)')
    .option('-d, --dry-run', 'report what would be deleted; change nothing')
    .option(
      '-m, --delete-untagged',
      'also delete manifests no tag reaches (keeps index children and referrers of kept manifests)',
    )
    .option('-q, --quiet', 'print nothing but errors')
    .option(
      '--grace-period <duration>',
      'keep unreferenced blobs and untagged manifests younger than this (default: berth.gc.graceperiod, 24h)',
    )
    .option('--json', "print the run's report as JSON instead of the listing")
    .action((config: string | undefined, options: GarbageCollectOptions) => garbageCollect(config, options));
}

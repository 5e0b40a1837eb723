/**
 * `berth du [config] [pattern] [--json] [--verify]`: storage accounting read from the records
 * kept in storage (registry/policies/accounting.ts): per repository and per namespace the
 * logical bytes (distinct blobs its manifests need), the unique bytes (needed by no other
 * repository or namespace) and the shared bytes, and the registry total. A running server
 * answers the same at `GET /_berth/admin/usage` (docs/policies.md). With no records yet, they
 * are built from a walk of storage first; `--verify` walks storage and corrects the records
 * before answering. With one argument that is not a file, it is the pattern.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../config/load.js';
import { PatternError } from '../../api/pattern.js';
import type { UsageReport } from '../../registry/policies/accounting.js';
import { repositoryFilter } from '../../registry/policies/patterns.js';
import { openStorage } from '../offline.js';

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
        .join('  '),
    )
    .join('\n');
}

export function formatUsage(report: UsageReport): string {
  const sizes = (figures: { logical: number; unique: number; shared: number }) => [
    human(figures.logical),
    human(figures.unique),
    human(figures.shared),
  ];
  const repositories = table(
    ['REPOSITORY', 'LOGICAL', 'UNIQUE', 'SHARED', 'TAGS', 'MANIFESTS'],
    report.repositories.map((usage) => [usage.name, ...sizes(usage), String(usage.tags), String(usage.manifests)]),
  );
  const namespaces = table(
    ['NAMESPACE', 'LOGICAL', 'UNIQUE', 'SHARED', 'TAGS', 'REPOSITORIES'],
    report.namespaces.map((usage) => [usage.name, ...sizes(usage), String(usage.tags), String(usage.repositories)]),
  );
  const { total } = report;
  return `${repositories}\n\n${namespaces}\n\ntotal: ${human(total.bytes)} (${total.bytes} bytes) in ${total.blobs} blobs, ${total.repositories} repositories, ${total.namespaces} namespaces, ${total.tags} tags\n`;
}

/** The report's age, on stderr, when storage was last walked longer ago than `berth.accounting.rescan`. */
function staleNote(verifiedAt: number, rescanMs: number): string | undefined {
  if (rescanMs <= 0 || Date.now() - verifiedAt < rescanMs) return undefined;
  return `berth du: figures from the records Berth keeps, last verified against storage at ${new Date(verifiedAt).toISOString()}; writes by other software since (Distribution) show after "berth du --verify" or a server's next verification\n`;
}

export async function du(
  first: string | undefined,
  second: string | undefined,
  options: { json?: boolean; verify?: boolean },
) {
  const [configPath, pattern] =
    second === undefined && first !== undefined && !existsSync(first) ? [undefined, first] : [first, second];
  let include: ((name: string) => boolean) | undefined;
  try {
    include = repositoryFilter(pattern);
  } catch (error) {
    if (error instanceof PatternError) throw new ConfigError(error.message);
    throw error;
  }
  const { config, registry } = openStorage(configPath);
  if (options.verify) await registry.accounting.verify({ evenIfBusy: true });
  else await registry.accounting.compactIfMany();
  const report = await registry.accounting.report(include);
  const note = staleNote(registry.accounting.lastVerified, config.berth.accounting.rescan);
  if (note) process.stderr.write(note);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatUsage(report));
}

export function registerDu(program: Command): void {
  program
    .command('du')
    .description('bytes used per repository and namespace (shared layers counted once), from the records in storage')
    .argument('[config]', 'Distribution-format config.yml (default: the built-in configuration)')
    .argument('[pattern]', 'only repositories matching this pattern (team-a/**, */app)')
    .option('--json', 'print the figures as JSON')
    .option('--verify', 'walk storage first and correct the records (finds what other software wrote)')
    .action((config: string | undefined, pattern: string | undefined, options: { json?: boolean; verify?: boolean }) =>
      du(config, pattern, options),
    );
}

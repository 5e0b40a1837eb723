/**
 * `berth prune REGISTRY/REPOSITORY`: deletes old tags by retention rules (`--keep-last N`,
 * `--keep REGEX`, `--older-than DURATION`). A tag's time is its image config's `created`, or the
 * `org.opencontainers.image.created` annotation; tags with no time are always kept. `--dry-run`
 * prints the plan and changes nothing; a real run computes the same plan and carries it out.
 */
import type { Command } from 'commander';
import { ClientError } from '../../client/errors.js';
import { executePrune, parseAge, planPrune, type PruneRules } from '../../client/prune.js';
import { parseImageReference } from '../../client/reference.js';
import {
  type ConnectionOptions,
  EXIT_CODES,
  io,
  positiveInteger,
  printJson,
  runCommand,
  withConnectionOptions,
} from '../common.js';

interface PruneOptions extends ConnectionOptions {
  keepLast?: string;
  keep?: string[];
  olderThan?: string;
  dryRun?: boolean;
}

function rulesFrom(options: PruneOptions): PruneRules {
  const rules: PruneRules = {};
  const keepLast = positiveInteger('--keep-last', options.keepLast);
  if (keepLast !== undefined) rules.keepLast = keepLast;
  if (options.olderThan !== undefined) {
    const age = parseAge(options.olderThan);
    if (age === undefined)
      throw new ClientError('usage', `--older-than "${options.olderThan}" is not a duration`, {
        hint: 'write it like 30d, 2w, 12h, 1h30m or 90s',
      });
    rules.olderThanMs = age;
  }
  rules.keep = (options.keep ?? []).map((pattern) => {
    try {
      return new RegExp(pattern);
    } catch (error) {
      throw new ClientError('usage', `--keep "${pattern}" is not a regular expression: ${(error as Error).message}`);
    }
  });
  return rules;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerPrune(program: Command): void {
  withConnectionOptions(
    program
      .command('prune')
      .description('delete old tags of a repository by retention rules (try --dry-run first)')
      .argument('<repository>', 'registry/repository')
      .option('--keep-last <n>', 'keep the newest N tags')
      .option('--keep <regex>', 'keep tags matching this regular expression (repeatable)', collect)
      .option('--older-than <duration>', 'delete only tags created longer ago than this (30d, 2w, 12h)')
      .option('--dry-run', 'print what would be deleted, delete nothing'),
  ).action((repositoryArg: string, options: PruneOptions) =>
    runCommand(options, async (open) => {
      const rules = rulesFrom(options);
      const ref = parseImageReference(repositoryArg, { allowTagless: true });
      if (ref.tag || ref.digest)
        throw new ClientError('usage', `"${repositoryArg}" names an image: give the repository only`);
      const registry = open(ref.registry);
      const plan = await planPrune(registry, ref.repository, rules);
      const doomed = plan.decisions.filter((decision) => decision.action !== 'keep');
      if (options.dryRun) {
        if (options.json) {
          printJson({ registry: registry.host, repository: ref.repository, dryRun: true, decisions: plan.decisions });
          return;
        }
        const lines = plan.decisions.map(
          (decision) =>
            `${decision.action === 'keep' ? 'keep  ' : decision.action === 'untag' ? 'untag ' : 'delete'} ${decision.tag.padEnd(24)} ${decision.digest.slice(0, 19)}  ${decision.created ?? 'no date'.padEnd(24)}  ${decision.reason}`,
        );
        lines.push(`dry run: ${doomed.length} of ${plan.decisions.length} tags would be deleted; nothing was changed`);
        io.out(`${lines.join('\n')}\n`);
        return;
      }
      const outcomes = await executePrune(registry, plan);
      const failed = outcomes.filter((outcome) => !outcome.ok);
      if (options.json) {
        printJson({
          registry: registry.host,
          repository: ref.repository,
          dryRun: false,
          decisions: plan.decisions,
          outcomes,
        });
      } else {
        const lines = outcomes.map((outcome) =>
          outcome.ok
            ? `${outcome.action === 'untag' ? 'untagged' : 'deleted '} ${outcome.tag.padEnd(24)} ${outcome.digest}`
            : `FAILED   ${outcome.tag.padEnd(24)} ${outcome.digest}: ${outcome.error}`,
        );
        lines.push(
          `${outcomes.length - failed.length} of ${plan.decisions.length} tags deleted, ${failed.length} failed, ${plan.decisions.length - outcomes.length} kept`,
        );
        io.out(`${lines.join('\n')}\n`);
      }
      if (failed.length > 0) {
        io.err(
          `berth: ${failed.length} deletion${failed.length === 1 ? '' : 's'} failed\nhint: see the FAILED lines; untagging needs a registry that can delete tags (OCI 1.1), deleting needs storage.delete.enabled\n`,
        );
        return EXIT_CODES.failure;
      }
      return EXIT_CODES.ok;
    }),
  );
}

/** `berth catalog REGISTRY`: every repository of a registry, following pagination. */
import type { Command } from 'commander';
import { normalizeRegistryHost } from '../../client/reference.js';
import {
  positiveInteger,
  printJson,
  printLines,
  runCommand,
  withConnectionOptions,
  type ConnectionOptions,
} from '../common.js';

interface CatalogOptions extends ConnectionOptions {
  pageSize?: string;
}

export function registerCatalog(program: Command): void {
  withConnectionOptions(
    program
      .command('catalog')
      .description('list the repositories of a registry')
      .argument('<registry>', 'registry host[:port]')
      .option('--page-size <n>', 'repositories per request (the registry may cap it)'),
  ).action((registryArg: string, options: CatalogOptions) =>
    runCommand(options, async (open) => {
      const pageSize = positiveInteger('--page-size', options.pageSize);
      const registry = open(normalizeRegistryHost(registryArg));
      const repositories = await registry.catalog(pageSize === undefined ? {} : { pageSize });
      if (options.json) printJson({ registry: registry.host, repositories });
      else printLines(repositories);
    }),
  );
}

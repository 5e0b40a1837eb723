/** `berth tags REGISTRY/REPOSITORY`: every tag of a repository, following pagination. */
import type { Command } from 'commander';
import { ClientError } from '../../client/errors.js';
import { parseImageReference } from '../../client/reference.js';
import {
  positiveInteger,
  printJson,
  printLines,
  runCommand,
  withConnectionOptions,
  type ConnectionOptions,
} from '../common.js';

interface TagsOptions extends ConnectionOptions {
  pageSize?: string;
}

export function registerTags(program: Command): void {
  withConnectionOptions(
    program
      .command('tags')
      .description('list the tags of a repository')
      .argument('<repository>', 'registry/repository, e.g. localhost:5000/team/app')
      .option('--page-size <n>', 'tags per request'),
  ).action((repositoryArg: string, options: TagsOptions) =>
    runCommand(options, async (open) => {
      const pageSize = positiveInteger('--page-size', options.pageSize);
      const ref = parseImageReference(repositoryArg, { allowTagless: true });
      if (ref.tag || ref.digest) {
        throw new ClientError('usage', `"${repositoryArg}" names an image, not a repository`, {
          hint: `drop the tag or digest: berth tags ${ref.registry}/${ref.repository}`,
        });
      }
      const registry = open(ref.registry);
      const tags = await registry.tags(ref.repository, pageSize === undefined ? {} : { pageSize });
      if (options.json) printJson({ registry: registry.host, repository: ref.repository, tags });
      else printLines(tags);
    }),
  );
}

/**
 * `berth rm REF`: resolves a tag to its digest and deletes that manifest, which also removes every
 * tag pointing to it (as the usual scripts do). `--untag` removes only the tag, on registries that
 * support deleting tags.
 */
import type { Command } from 'commander';
import { parseImageReference, referenceOf } from '../../client/reference.js';
import { type ConnectionOptions, io, printJson, runCommand, withConnectionOptions } from '../common.js';
import { ClientError } from '../../client/errors.js';

interface RmOptions extends ConnectionOptions {
  untag?: boolean;
}

export function registerRm(program: Command): void {
  withConnectionOptions(
    program
      .command('rm')
      .description('delete an image: resolve the tag to its digest, then delete the manifest')
      .argument('<reference>', 'registry/repository:tag or registry/repository@digest')
      .option('--untag', 'remove only the tag, keep the manifest (needs a registry that deletes tags)'),
  ).action((referenceArg: string, options: RmOptions) =>
    runCommand(options, async (open) => {
      const ref = parseImageReference(referenceArg);
      const registry = open(ref.registry);
      const name = `${registry.host}/${ref.repository}`;
      if (options.untag) {
        if (!ref.tag || ref.digest) throw new ClientError('usage', '--untag needs a tag reference (repository:tag)');
        const digest = await registry.digest(ref.repository, ref.tag);
        await registry.deleteTag(ref.repository, ref.tag);
        if (options.json)
          printJson({ registry: registry.host, repository: ref.repository, tag: ref.tag, digest, deleted: 'tag' });
        else io.out(`Untagged ${name}:${ref.tag} (${digest} stays)\n`);
        return;
      }
      const digest = await registry.digest(ref.repository, referenceOf(ref));
      await registry.deleteManifest(ref.repository, digest);
      if (options.json)
        printJson({
          registry: registry.host,
          repository: ref.repository,
          reference: referenceOf(ref),
          digest,
          deleted: 'manifest',
        });
      else io.out(`Deleted ${name}@${digest}${ref.digest ? '' : ` (was ${ref.tag})`}\n`);
    }),
  );
}

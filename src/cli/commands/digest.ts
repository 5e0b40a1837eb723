/** `berth digest REF`: the digest a tag points to (what `rm`, `cp` and pull-by-digest need). */
import type { Command } from 'commander';
import { parseImageReference, referenceOf } from '../../client/reference.js';
import { type ConnectionOptions, io, printJson, runCommand, withConnectionOptions } from '../common.js';

export function registerDigest(program: Command): void {
  withConnectionOptions(
    program
      .command('digest')
      .description('print the digest of an image (tag → sha256:…)')
      .argument('<reference>', 'registry/repository[:tag][@digest]'),
  ).action((referenceArg: string, options: ConnectionOptions) =>
    runCommand(options, async (open) => {
      const ref = parseImageReference(referenceArg);
      const registry = open(ref.registry);
      const digest = await registry.digest(ref.repository, referenceOf(ref));
      if (options.json)
        printJson({ registry: registry.host, repository: ref.repository, reference: referenceOf(ref), digest });
      else io.out(`${digest}\n`);
    }),
  );
}

/**
 * `berth cp SRC DST`: copies an image, every platform of an index included, between registries
 * and OCI image layout folders. A location is either `[docker://]registry/repository[:tag|@digest]`
 * or `oci:DIR[:tag]` (skopeo's syntax). Blobs the target has are skipped, blobs within one
 * registry are mounted, manifests are copied byte for byte (same digests on both sides).
 */
import type { Command } from 'commander';
import { type CopyResult, copyImage } from '../../client/copy.js';
import { LayoutEndpoint, RegistryEndpoint, type ImageEndpoint } from '../../client/endpoints.js';
import { ClientError } from '../../client/errors.js';
import { OciLayout } from '../../client/oci-layout.js';
import { parseImageReference } from '../../client/reference.js';
import type { RegistryClient } from '../../client/registry-client.js';
import {
  type ConnectionOptions,
  formatBytes,
  io,
  positiveInteger,
  printJson,
  runCommand,
  withConnectionOptions,
} from '../common.js';
import { progressReporter } from '../progress.js';

interface CpOptions extends ConnectionOptions {
  concurrency?: string;
  progress?: boolean;
}

export interface Location {
  kind: 'registry' | 'oci';
  /** Registry host, or layout folder. */
  where: string;
  repository?: string;
  tag?: string;
  digest?: string;
  text: string;
}

/** Parses `oci:DIR[:tag]` or `[docker://]registry/repository[:tag][@digest]`. */
export function parseLocation(text: string): Location {
  if (text.startsWith('oci:')) {
    const rest = text.slice('oci:'.length);
    const colon = rest.indexOf(':');
    const dir = colon === -1 ? rest : rest.slice(0, colon);
    const tag = colon === -1 ? undefined : rest.slice(colon + 1);
    if (!dir)
      throw new ClientError('usage', `"${text}" names no folder`, {
        hint: 'write an OCI layout as oci:DIR or oci:DIR:TAG',
      });
    if (tag !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$/.test(tag))
      throw new ClientError('usage', `"${tag}" is not a valid OCI layout reference name`);
    return { kind: 'oci', where: dir, ...(tag ? { tag } : {}), text };
  }
  const ref = parseImageReference(text, { allowTagless: true });
  return {
    kind: 'registry',
    where: ref.registry,
    repository: ref.repository,
    ...(ref.tag ? { tag: ref.tag } : {}),
    ...(ref.digest ? { digest: ref.digest } : {}),
    text,
  };
}

async function endpointFor(
  location: Location,
  open: (host: string) => RegistryClient,
  registries: Map<string, RegistryClient>,
  create: boolean,
): Promise<ImageEndpoint> {
  if (location.kind === 'oci') return new LayoutEndpoint(await OciLayout.open(location.where, { create }));
  // One client per registry, so source and destination on the same registry share tokens and connections.
  let registry = registries.get(location.where);
  if (!registry) {
    registry = open(location.where);
    registries.set(location.where, registry);
  }
  return new RegistryEndpoint(registry, location.repository!);
}

export function registerCp(program: Command): void {
  withConnectionOptions(
    program
      .command('cp')
      .description('copy an image (all platforms) between registries and OCI layout folders (oci:DIR[:tag])')
      .argument('<source>', 'registry/repository[:tag][@digest] or oci:DIR[:tag]')
      .argument('<destination>', 'registry/repository[:tag] or oci:DIR[:tag]')
      .option('--concurrency <n>', 'blobs copied at the same time', '3')
      .option('--no-progress', 'no progress bars, even on a terminal'),
  ).action((sourceText: string, destinationText: string, options: CpOptions) =>
    runCommand(options, async (open) => {
      const source = parseLocation(sourceText);
      const destination = parseLocation(destinationText);
      if (source.kind === 'registry' && !source.tag && !source.digest) source.tag = 'latest';
      if (destination.digest && !destination.tag) {
        throw new ClientError(
          'usage',
          `the destination "${destinationText}" has a digest: give a tag, or no tag to keep the source's`,
        );
      }
      const concurrency = positiveInteger('--concurrency', options.concurrency) ?? 3;
      const registries = new Map<string, RegistryClient>();
      const from = await endpointFor(source, open, registries, false);
      const to = await endpointFor(destination, open, registries, true);
      // No destination tag: keep the source's tag; a source named by digest only is pushed by digest.
      const tag = destination.tag ?? source.tag;
      const progress = progressReporter(options.progress !== false && !options.json && process.stderr.isTTY === true);
      let result: CopyResult;
      try {
        result = await copyImage(from, source.digest ?? source.tag, to, tag, {
          concurrency,
          onEvent: (event) => progress.onEvent(event),
        });
      } finally {
        progress.stop();
      }
      const target = `${to.label}${tag ? `:${tag}` : `@${result.digest}`}`;
      if (options.json) {
        printJson({ source: sourceText, destination: target, ...result });
        return;
      }
      const { blobs } = result;
      io.out(
        `Copied ${sourceText} to ${target}\n` +
          `  digest ${result.digest}\n` +
          `  ${result.manifests} manifest${result.manifests === 1 ? '' : 's'}; blobs: ${blobs.uploaded} copied (${formatBytes(result.bytes)}), ${blobs.mounted} mounted, ${blobs.existing} already there${blobs.skipped ? `, ${blobs.skipped} non-distributable skipped` : ''}\n`,
      );
    }),
  );
}

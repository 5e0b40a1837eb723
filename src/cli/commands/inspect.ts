/**
 * `berth inspect REF`: what an image is made of: media type, digest, platforms (for an index),
 * layers and sizes, creation time and annotations. `--raw` prints the manifest as stored.
 */
import type { Command } from 'commander';
import { parseImageReference, referenceOf } from '../../client/reference.js';
import type { RegistryClient } from '../../client/registry-client.js';
import {
  formatPlatform,
  isIndex,
  type Annotations,
  type Descriptor,
  type FetchedManifest,
  type ImageConfig,
} from '../../client/types.js';
import { CREATED_ANNOTATION } from '../../client/types.js';
import { type ConnectionOptions, formatBytes, io, printJson, runCommand, withConnectionOptions } from '../common.js';

interface InspectOptions extends ConnectionOptions {
  raw?: boolean;
}

interface ImageSummary {
  digest: string;
  mediaType: string;
  artifactType?: string;
  platform?: string;
  created?: string;
  /** Config plus layers, in bytes. */
  size: number;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Annotations;
  labels?: Record<string, string>;
}

interface IndexSummary {
  digest: string;
  mediaType: string;
  created?: string;
  annotations?: Annotations;
  platforms: Array<{
    platform: string;
    digest: string;
    mediaType: string;
    size: number;
    created?: string;
    annotations?: Annotations;
  }>;
}

async function summarizeImage(
  registry: RegistryClient,
  repository: string,
  fetched: FetchedManifest,
): Promise<ImageSummary> {
  const manifest = fetched.manifest as {
    config: Descriptor;
    layers?: Descriptor[];
    annotations?: Annotations;
    artifactType?: string;
  };
  const layers = manifest.layers ?? [];
  const summary: ImageSummary = {
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    size: manifest.config.size + layers.reduce((total, layer) => total + layer.size, 0),
    config: manifest.config,
    layers,
  };
  if (manifest.artifactType) summary.artifactType = manifest.artifactType;
  if (manifest.annotations) summary.annotations = manifest.annotations;
  const configType = manifest.config.mediaType ?? '';
  if (configType.includes('image.config') || configType.includes('container.image')) {
    const config = JSON.parse(
      (await registry.getBlobBytes(repository, manifest.config.digest)).toString('utf8'),
    ) as ImageConfig;
    if (config.os || config.architecture)
      summary.platform = formatPlatform({
        os: config.os ?? '?',
        architecture: config.architecture ?? '?',
        variant: config.variant,
      });
    if (config.created) summary.created = config.created;
    if (config.config?.Labels) summary.labels = config.config.Labels;
  }
  if (!summary.created && manifest.annotations?.[CREATED_ANNOTATION])
    summary.created = manifest.annotations[CREATED_ANNOTATION];
  return summary;
}

async function summarizeIndex(
  registry: RegistryClient,
  repository: string,
  fetched: FetchedManifest,
): Promise<IndexSummary> {
  const index = fetched.manifest as { manifests: Descriptor[]; annotations?: Annotations };
  const platforms: IndexSummary['platforms'] = [];
  for (const child of index.manifests) {
    const entry: IndexSummary['platforms'][number] = {
      platform: child.platform ? formatPlatform(child.platform) : (child.artifactType ?? 'unknown'),
      digest: child.digest,
      mediaType: child.mediaType,
      size: child.size,
    };
    if (child.annotations) entry.annotations = child.annotations;
    const childManifest = await registry.getManifest(repository, child.digest).catch(() => undefined);
    if (childManifest && !isIndex(childManifest.manifest, childManifest.mediaType)) {
      const image = await summarizeImage(registry, repository, childManifest).catch(() => undefined);
      if (image) {
        entry.size = image.size;
        if (image.created) entry.created = image.created;
      }
    }
    platforms.push(entry);
  }
  const summary: IndexSummary = { digest: fetched.digest, mediaType: fetched.mediaType, platforms };
  if (index.annotations) summary.annotations = index.annotations;
  if (index.annotations?.[CREATED_ANNOTATION]) summary.created = index.annotations[CREATED_ANNOTATION];
  return summary;
}

function annotationLines(title: string, annotations: Record<string, string> | undefined): string[] {
  if (!annotations || Object.keys(annotations).length === 0) return [];
  return [`${title}:`, ...Object.entries(annotations).map(([key, value]) => `  ${key}: ${value}`)];
}

export function registerInspect(program: Command): void {
  withConnectionOptions(
    program
      .command('inspect')
      .description('show platforms, layers, sizes, creation time and annotations of an image')
      .argument('<reference>', 'registry/repository[:tag][@digest]')
      .option('--raw', 'print the manifest exactly as the registry stores it'),
  ).action((referenceArg: string, options: InspectOptions) =>
    runCommand(options, async (open) => {
      const ref = parseImageReference(referenceArg);
      const registry = open(ref.registry);
      const fetched = await registry.getManifest(ref.repository, referenceOf(ref));
      if (options.raw) {
        io.out(fetched.bytes);
        return;
      }
      const name = `${registry.host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`;
      if (isIndex(fetched.manifest, fetched.mediaType)) {
        const summary = await summarizeIndex(registry, ref.repository, fetched);
        if (options.json) return printJson({ name, kind: 'index', ...summary });
        const lines = [`Name:       ${name}`, `Digest:     ${summary.digest}`, `MediaType:  ${summary.mediaType}`];
        if (summary.created) lines.push(`Created:    ${summary.created}`);
        lines.push(`Platforms:  ${summary.platforms.length}`);
        for (const entry of summary.platforms) {
          lines.push(
            `  ${entry.platform.padEnd(16)} ${entry.digest}  ${formatBytes(entry.size).padStart(10)}${entry.created ? `  created ${entry.created}` : ''}`,
          );
        }
        lines.push(...annotationLines('Annotations', summary.annotations));
        io.out(`${lines.join('\n')}\n`);
        return;
      }
      const summary = await summarizeImage(registry, ref.repository, fetched);
      if (options.json) return printJson({ name, kind: 'image', ...summary });
      const lines = [`Name:       ${name}`, `Digest:     ${summary.digest}`, `MediaType:  ${summary.mediaType}`];
      if (summary.artifactType) lines.push(`Artifact:   ${summary.artifactType}`);
      if (summary.platform) lines.push(`Platform:   ${summary.platform}`);
      if (summary.created) lines.push(`Created:    ${summary.created}`);
      lines.push(
        `Size:       ${formatBytes(summary.size)} (${summary.size} bytes, config and ${summary.layers.length} layers)`,
      );
      lines.push(
        `Config:     ${summary.config.digest}  ${formatBytes(summary.config.size)}  ${summary.config.mediaType}`,
      );
      lines.push(`Layers:     ${summary.layers.length}`);
      for (const layer of summary.layers)
        lines.push(`  ${layer.digest}  ${formatBytes(layer.size).padStart(10)}  ${layer.mediaType}`);
      lines.push(...annotationLines('Annotations', summary.annotations));
      lines.push(...annotationLines('Labels', summary.labels));
      io.out(`${lines.join('\n')}\n`);
    }),
  );
}

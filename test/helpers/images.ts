/**
 * Images for client and CLI tests, pushed through the client library: single-platform images
 * whose config has a `created` time (for prune), and multi-platform indexes.
 */
import { randomBytes } from 'node:crypto';
import type { RegistryClient } from '../../src/client/registry-client.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from './content.js';

export interface BuiltBlob {
  digest: string;
  content: Buffer;
  mediaType: string;
}

export interface BuiltImage {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  blobs: BuiltBlob[];
  platform: { os: string; architecture: string };
}

export interface BuiltIndex {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  images: BuiltImage[];
}

export function buildImage(
  options: {
    created?: string;
    os?: string;
    architecture?: string;
    layers?: number;
    layerSize?: number;
    annotations?: Record<string, string>;
  } = {},
): BuiltImage {
  const platform = { os: options.os ?? 'linux', architecture: options.architecture ?? 'amd64' };
  const configJson: Record<string, unknown> = { ...platform, rootfs: { type: 'layers', diff_ids: [] }, config: {} };
  if (options.created) configJson.created = options.created;
  const config = Buffer.from(JSON.stringify(configJson));
  const layers = Array.from({ length: options.layers ?? 2 }, () => randomBytes(options.layerSize ?? 700));
  const blobs: BuiltBlob[] = [
    { digest: sha256(config), content: config, mediaType: OCI_CONFIG },
    ...layers.map((content) => ({ digest: sha256(content), content, mediaType: OCI_LAYER })),
  ];
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: blobs[0]!.digest, size: config.length },
    layers: blobs.slice(1).map((blob) => ({ mediaType: OCI_LAYER, digest: blob.digest, size: blob.content.length })),
  };
  if (options.annotations) body.annotations = options.annotations;
  const manifest = Buffer.from(JSON.stringify(body));
  return { manifest, digest: sha256(manifest), mediaType: OCI_MANIFEST, blobs, platform };
}

export function buildIndex(images: BuiltImage[], annotations?: Record<string, string>): BuiltIndex {
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.manifest.length,
      platform: image.platform,
    })),
  };
  if (annotations) body.annotations = annotations;
  const manifest = Buffer.from(JSON.stringify(body));
  return { manifest, digest: sha256(manifest), mediaType: OCI_INDEX, images };
}

/** Pushes an image's blobs and manifest with the client; `reference` is a tag or the digest. */
export async function pushBuiltImage(
  registry: RegistryClient,
  repository: string,
  reference: string | undefined,
  image: BuiltImage,
): Promise<void> {
  for (const blob of image.blobs) {
    if (!(await registry.hasBlob(repository, blob.digest)))
      await registry.uploadBlob(repository, blob.content, { digest: blob.digest });
  }
  await registry.putManifest(repository, reference ?? image.digest, image.manifest, { mediaType: image.mediaType });
}

export async function pushBuiltIndex(
  registry: RegistryClient,
  repository: string,
  tag: string,
  index: BuiltIndex,
): Promise<void> {
  for (const image of index.images) await pushBuiltImage(registry, repository, undefined, image);
  await registry.putManifest(repository, tag, index.manifest, { mediaType: index.mediaType });
}

/**
 * What the benchmark pushes and lists: a large incompressible blob written to disk in chunks (never
 * held in memory), small images made in memory, and the storage layout of 10,000 repositories and
 * a repository with 10,000 tags, written directly into a storage folder (Distribution's layout,
 * which both registries read).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MiB } from './stats.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

/** Writes `size` random bytes to `path` in 8 MiB chunks. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const chunk = randomBytes(Math.min(8 * MiB, size - written));
      await file.write(chunk);
      written += chunk.length;
    }
  } finally {
    await file.close();
  }
}

/**
 * Makes the file a new blob (a stamp in its first 16 bytes), so every push stores new content, as
 * a real push does, instead of finding the blob already there. Returns its digest, computed by
 * streaming the file.
 */
export async function restamp(path: string, stamp: string): Promise<string> {
  const file = await open(path, 'r+');
  try {
    await file.write(Buffer.from(stamp.padEnd(16, '.').slice(0, 16)), 0, 16, 0);
  } finally {
    await file.close();
  }
  return digestOfFile(path);
}

export async function digestOfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export interface Blob {
  digest: string;
  content: Buffer;
}

export interface SmallImage {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  digest: string;
}

function blob(content: Buffer): Blob {
  return { digest: sha256(content), content };
}

/** A small image with fresh random layers of the given sizes. */
export function smallImage(layerSizes: number[]): SmallImage {
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        nonce: randomBytes(8).toString('hex'),
      }),
    ),
  );
  const layers = layerSizes.map((size) => blob(randomBytes(size)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.content.length },
      layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: layer.digest, size: layer.content.length })),
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest) };
}

// The storage layout ------------------------------------------------------------------------

const V2 = 'docker/registry/v2';

function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

/**
 * Writes the same files into several storage roots. Folders are made top-down, each once, with
 * synchronous calls: about 1,000,000 metadata operations at 100,000 repositories, where a trip
 * through libuv's thread pool per operation would cost minutes.
 */
class LayoutWriter {
  private readonly made = new Set<string>();

  constructor(private readonly roots: string[]) {}

  private folder(path: string): void {
    if (this.made.has(path)) return;
    const parent = dirname(path);
    if (parent !== path) this.folder(parent);
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    this.made.add(path);
  }

  /** Writes `content` at `relative` (a path inside the storage root) in every root. */
  async put(relative: string, content: Buffer | string): Promise<void> {
    for (const root of this.roots) {
      const path = join(root, relative);
      this.folder(dirname(path));
      writeFileSync(path, content);
    }
  }
}

/** Runs `work` for 0..count-1 with at most `width` in flight. */
async function forEach(count: number, width: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

export interface Layout {
  /** The image every populated repository holds (tag `latest`). */
  image: SmallImage;
  /** Repository for the small-request row: HEAD of `image.layers[0]`, GET of `latest`. */
  smallRepository: string;
  catalogRepositories: number;
  tagsRepository: string;
  tags: number;
}

function blobPath(digest: string): string {
  const hex = hexOf(digest);
  return join(V2, 'blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * Writes the listing workloads' storage directly into each root (identical folders for both
 * registries): `catalog/r00000…` repositories, each linking the image's layer and its manifest
 * revision (Distribution 2.8 lists a folder holding `_layers`, Berth one holding `_layers` or
 * `_manifests`; without `revisions`, the layer link alone, half the folders to write), `bench/tags`
 * with `tags` tags, and `bench/small` with the whole image tagged `latest`.
 */
export async function writeLayout(
  roots: string[],
  repositories: number,
  tags: number,
  options: { revisions?: boolean } = {},
): Promise<Layout> {
  const writer = new LayoutWriter(roots);
  const image = smallImage([4096]);
  for (const item of [image.config, ...image.layers]) await writer.put(blobPath(item.digest), item.content);
  await writer.put(blobPath(image.digest), image.manifest);
  const layout: Layout = {
    image,
    smallRepository: 'bench/small',
    catalogRepositories: repositories,
    tagsRepository: 'bench/tags',
    tags,
  };
  const repo = (name: string) => join(V2, 'repositories', name);
  const revision = (name: string) =>
    writer.put(join(repo(name), '_manifests/revisions/sha256', hexOf(image.digest), 'link'), image.digest);
  const layer = (name: string, digest: string) =>
    writer.put(join(repo(name), '_layers/sha256', hexOf(digest), 'link'), digest);
  const tag = async (name: string, value: string) => {
    await writer.put(
      join(repo(name), '_manifests/tags', value, 'index/sha256', hexOf(image.digest), 'link'),
      image.digest,
    );
    await writer.put(join(repo(name), '_manifests/tags', value, 'current/link'), image.digest);
  };

  for (const blob of [image.config, ...image.layers]) await layer(layout.smallRepository, blob.digest);
  await revision(layout.smallRepository);
  await tag(layout.smallRepository, 'latest');

  for (const blob of [image.config, ...image.layers]) await layer(layout.tagsRepository, blob.digest);
  await revision(layout.tagsRepository);
  await forEach(tags, 1, (index) =>
    writer.put(
      join(repo(layout.tagsRepository), '_manifests/tags', `v${String(index).padStart(6, '0')}`, 'current/link'),
      image.digest,
    ),
  );

  await forEach(repositories, 1, async (index) => {
    const name = `catalog/r${String(index).padStart(6, '0')}`;
    await layer(name, image.layers[0]!.digest);
    if (options.revisions !== false) await revision(name);
  });
  return layout;
}

/**
 * Storage accounting's fixture, written directly into `root` like `writeLayout`: `usage/r000000…`
 * repositories, each holding an image of its own (config and manifest, tagged `latest`) over one
 * layer every repository shares, so every repository has unique bytes and shared ones.
 */
export async function writeUsageLayout(root: string, repositories: number): Promise<{ layer: Blob }> {
  const writer = new LayoutWriter([root]);
  const layer = blob(randomBytes(16_384));
  await writer.put(blobPath(layer.digest), layer.content);
  const repo = (name: string) => join(V2, 'repositories', name);
  await forEach(repositories, 1, async (index) => {
    const name = `usage/r${String(index).padStart(6, '0')}`;
    const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repository: name })));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.content.length },
        layers: [{ mediaType: OCI_LAYER, digest: layer.digest, size: layer.content.length }],
      }),
    );
    const digest = sha256(manifest);
    await writer.put(blobPath(config.digest), config.content);
    await writer.put(blobPath(digest), manifest);
    for (const linked of [layer.digest, config.digest])
      await writer.put(join(repo(name), '_layers/sha256', hexOf(linked), 'link'), linked);
    await writer.put(join(repo(name), '_manifests/revisions/sha256', hexOf(digest), 'link'), digest);
    await writer.put(join(repo(name), '_manifests/tags/latest/current/link'), digest);
  });
  return { layer };
}

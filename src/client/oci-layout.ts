/**
 * An OCI image layout folder (OCI Image Spec, image-layout.md): `oci-layout`, `index.json`, and
 * blobs under `blobs/<alg>/<hex>`. Tags are `org.opencontainers.image.ref.name` annotations on the
 * descriptors of index.json, as skopeo (`oci:DIR:TAG`), umoci and buildah write them. Blobs are
 * written to a temporary file, verified, then renamed into place, so a layout never holds a blob
 * whose bytes do not match its name.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestVerifier, digestAlgorithm, verifyBytes } from './digest.js';
import { ClientError } from './errors.js';
import {
  REF_NAME_ANNOTATION,
  manifestMediaType,
  type Descriptor,
  type FetchedManifest,
  type ImageIndex,
  type Manifest,
} from './types.js';

const LAYOUT_VERSION = '1.0.0';
const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Opens an existing layout; with `create`, makes an empty one when the folder has none. */
  static async open(dir: string, options: { create?: boolean } = {}): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    const marker = join(dir, 'oci-layout');
    let text: string | undefined;
    try {
      text = await readFile(marker, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text === undefined) {
      if (!options.create) {
        throw new ClientError('not-found', `${dir} is not an OCI image layout (no oci-layout file)`, {
          hint: 'give the folder an image was copied into, e.g. with `berth cp REF oci:DIR:TAG` or `skopeo copy … oci:DIR:TAG`',
        });
      }
      await mkdir(join(dir, 'blobs'), { recursive: true });
      await writeFile(marker, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      await layout.writeIndex({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] });
      return layout;
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (typeof version !== 'string') throw new ClientError('failure', `${marker} is not a valid oci-layout file`);
    return layout;
  }

  blobPath(digest: string): string {
    digestAlgorithm(digest);
    const [algorithm, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', algorithm, hex);
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] };
      throw error;
    }
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new ClientError('failure', `${path} has no "manifests" array`);
    return index;
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    const path = join(this.dir, 'index.json');
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(index));
    await rename(temporary, path);
  }

  /** The tags of the layout (ref names in index.json). */
  async tags(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests
      .map((descriptor) => descriptor.annotations?.[REF_NAME_ANNOTATION])
      .filter((name): name is string => !!name);
  }

  /**
   * The descriptor a tag names, or, with no tag, the layout's only manifest. A digest is looked
   * up among the blobs.
   */
  async resolve(reference: string | undefined): Promise<Descriptor> {
    const index = await this.readIndex();
    if (reference?.includes(':') && /^[a-z0-9]+:[a-f0-9]+$/.test(reference)) {
      const listed = index.manifests.find((descriptor) => descriptor.digest === reference);
      if (listed) return listed;
      const bytes = await this.readBlob(reference);
      const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
      return { mediaType: manifestMediaType(manifest), digest: reference, size: bytes.length };
    }
    if (reference === undefined) {
      if (index.manifests.length === 1) return index.manifests[0]!;
      const names = index.manifests.map((descriptor) => descriptor.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
      throw new ClientError('usage', `${this.dir} holds ${index.manifests.length} images: say which one`, {
        hint:
          names.length > 0
            ? `add a tag: oci:${this.dir}:${names[0]} (tags here: ${names.join(', ')})`
            : 'add a tag: oci:DIR:TAG',
      });
    }
    const found = index.manifests.filter((descriptor) => descriptor.annotations?.[REF_NAME_ANNOTATION] === reference);
    if (found.length === 0) {
      const names = index.manifests.map((descriptor) => descriptor.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
      throw new ClientError('not-found', `${this.dir} has no image tagged "${reference}"`, {
        hint: names.length > 0 ? `tags here: ${names.join(', ')}` : 'the layout has no tagged images',
      });
    }
    return found[found.length - 1]!;
  }

  async hasBlob(digest: string, size?: number): Promise<boolean> {
    try {
      const info = await stat(this.blobPath(digest));
      return info.isFile() && (size === undefined || info.size === size);
    } catch {
      return false;
    }
  }

  /** Reads a small blob whole (manifests, configs), verified. */
  async readBlob(digest: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ClientError('not-found', `${this.dir} does not have blob ${digest}`);
      }
      throw error;
    }
    verifyBytes(bytes, digest, `blob ${digest} in ${this.dir}`);
    return bytes;
  }

  async getManifest(digest: string): Promise<FetchedManifest> {
    const bytes = await this.readBlob(digest);
    const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    return { digest, mediaType: manifestMediaType(manifest), bytes, manifest };
  }

  /** Streams a blob; the stream fails at its end if the file does not match the digest. */
  async openBlob(digest: string, size?: number): Promise<Readable> {
    const path = this.blobPath(digest);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new ClientError('not-found', `${this.dir} does not have blob ${digest}`);
    const verifier = new DigestVerifier(digest, `blob ${digest} in ${this.dir}`, size);
    const file = createReadStream(path);
    file.on('error', (error) => verifier.destroy(error));
    return file.pipe(verifier);
  }

  /** Writes a blob from a stream: into a temporary file, verified, then renamed to its name. */
  async writeBlob(digest: string, content: Readable | Buffer, size?: number): Promise<void> {
    const path = this.blobPath(digest);
    if (await this.hasBlob(digest, size)) {
      if (!Buffer.isBuffer(content)) content.destroy();
      return;
    }
    await mkdir(join(path, '..'), { recursive: true });
    const temporary = `${path}.${randomBytes(6).toString('hex')}.partial`;
    try {
      if (Buffer.isBuffer(content)) {
        verifyBytes(content, digest, `blob ${digest}`);
        await writeFile(temporary, content);
      } else {
        await pipeline(content, new DigestVerifier(digest, `blob ${digest}`, size), createWriteStream(temporary));
      }
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /**
   * Records a manifest in index.json: under `tag` (replacing what had that tag), or untagged
   * when no tag is given (kept once per digest).
   */
  async addManifest(descriptor: Descriptor, tag?: string): Promise<void> {
    const index = await this.readIndex();
    const entry: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
    if (descriptor.platform) entry.platform = descriptor.platform;
    if (descriptor.artifactType) entry.artifactType = descriptor.artifactType;
    let manifests: Descriptor[];
    if (tag) {
      entry.annotations = { ...descriptor.annotations, [REF_NAME_ANNOTATION]: tag };
      manifests = index.manifests.filter((existing) => existing.annotations?.[REF_NAME_ANNOTATION] !== tag);
    } else {
      manifests = index.manifests.filter(
        (existing) => existing.digest !== descriptor.digest || existing.annotations?.[REF_NAME_ANNOTATION],
      );
    }
    manifests.push(entry);
    await this.writeIndex({ ...index, schemaVersion: 2, mediaType: index.mediaType ?? INDEX_MEDIA_TYPE, manifests });
  }
}

/**
 * The two places an image can be copied from or to: a repository on a registry, or an OCI image
 * layout folder. Both offer the same small interface, so the copy engine does not care which.
 */
import type { Readable } from 'node:stream';
import { ClientError } from './errors.js';
import type { OciLayout } from './oci-layout.js';
import type { RegistryClient } from './registry-client.js';
import type { Descriptor, FetchedManifest } from './types.js';

export interface ImageEndpoint {
  /** How to name it to a person: `localhost:5000/app`, `oci:./dir`. */
  readonly label: string;
  /** The descriptor (digest, media type, size) a tag or digest names. */
  resolve(reference: string | undefined): Promise<Descriptor>;
  getManifest(digest: string): Promise<FetchedManifest>;
  hasManifest(digest: string): Promise<boolean>;
  hasBlob(digest: string, size: number): Promise<boolean>;
  /** A verified stream of the blob's bytes. */
  openBlob(digest: string, size: number): Promise<Readable>;
  /**
   * Stores a blob. `open` is called only when bytes must move; `mountFrom` names a repository of
   * the same registry to mount from. Returns what happened.
   */
  putBlob(
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: { endpoint: ImageEndpoint },
  ): Promise<'mounted' | 'uploaded'>;
  /** Stores a manifest; with `tag`, tags it too. */
  putManifest(manifest: FetchedManifest, tag?: string, descriptor?: Descriptor): Promise<void>;
}

export class RegistryEndpoint implements ImageEndpoint {
  constructor(
    readonly registry: RegistryClient,
    readonly repository: string,
  ) {}

  get label(): string {
    return `${this.registry.host}/${this.repository}`;
  }

  async resolve(reference: string | undefined): Promise<Descriptor> {
    const ref = reference ?? 'latest';
    const info = await this.registry.headManifest(this.repository, ref);
    if (!info) {
      throw new ClientError('not-found', `${this.label}${ref.includes(':') ? '@' : ':'}${ref} does not exist`, {
        hint: `list the tags with: berth tags ${this.label}`,
      });
    }
    if (!info.mediaType || !Number.isFinite(info.size)) {
      const fetched = await this.registry.getManifest(this.repository, info.digest);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.length };
    }
    return { digest: info.digest, mediaType: info.mediaType, size: info.size };
  }

  getManifest(digest: string): Promise<FetchedManifest> {
    return this.registry.getManifest(this.repository, digest);
  }

  async hasManifest(digest: string): Promise<boolean> {
    return (await this.registry.headManifest(this.repository, digest)) !== undefined;
  }

  async hasBlob(digest: string): Promise<boolean> {
    return this.registry.hasBlob(this.repository, digest);
  }

  async openBlob(digest: string, size: number): Promise<Readable> {
    return (await this.registry.openBlob(this.repository, digest, { size })).stream;
  }

  async putBlob(
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: { endpoint: ImageEndpoint },
  ): Promise<'mounted' | 'uploaded'> {
    const source = mountFrom?.endpoint;
    if (
      source instanceof RegistryEndpoint &&
      source.registry.host === this.registry.host &&
      source.repository !== this.repository
    ) {
      if (await this.registry.mountBlob(this.repository, descriptor.digest, source.repository)) return 'mounted';
    }
    const stream = await open();
    await this.registry.uploadBlob(this.repository, () => stream, { digest: descriptor.digest, size: descriptor.size });
    return 'uploaded';
  }

  async putManifest(manifest: FetchedManifest, tag?: string): Promise<void> {
    await this.registry.putManifest(this.repository, tag ?? manifest.digest, manifest.bytes, {
      mediaType: manifest.mediaType,
    });
  }
}

export class LayoutEndpoint implements ImageEndpoint {
  constructor(readonly layout: OciLayout) {}

  get label(): string {
    return `oci:${this.layout.dir}`;
  }

  resolve(reference: string | undefined): Promise<Descriptor> {
    return this.layout.resolve(reference);
  }

  getManifest(digest: string): Promise<FetchedManifest> {
    return this.layout.getManifest(digest);
  }

  hasManifest(digest: string): Promise<boolean> {
    return this.layout.hasBlob(digest);
  }

  hasBlob(digest: string, size: number): Promise<boolean> {
    return this.layout.hasBlob(digest, size);
  }

  openBlob(digest: string, size: number): Promise<Readable> {
    return this.layout.openBlob(digest, size);
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<'mounted' | 'uploaded'> {
    await this.layout.writeBlob(descriptor.digest, await open(), descriptor.size);
    return 'uploaded';
  }

  async putManifest(manifest: FetchedManifest, tag?: string, descriptor?: Descriptor): Promise<void> {
    await this.layout.writeBlob(manifest.digest, manifest.bytes);
    // Only the image named on the command line goes into index.json; children are reached through it.
    if (descriptor) {
      await this.layout.addManifest(
        { ...descriptor, digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length },
        tag,
      );
    }
  }
}

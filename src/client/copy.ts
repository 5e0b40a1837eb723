/**
 * Copies an image, with every platform of an index, from one endpoint to another (registry or OCI
 * layout). Manifests travel byte for byte, so digests are identical on both sides. Blobs the target
 * already has are skipped, blobs of the same registry are mounted, the rest are streamed from the
 * source into the target and verified on the way. Children go first, the named manifest last, so a
 * tag never points to an incomplete image.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { SCHEMA1_TYPES, isNonDistributable } from '../api/media-types.js';
import type { ImageEndpoint } from './endpoints.js';
import { ClientError } from './errors.js';
import { formatPlatform, isIndex, type Descriptor, type FetchedManifest, type ImageManifest } from './types.js';

export type CopyEvent =
  | { type: 'manifest'; digest: string; mediaType: string; platform?: string }
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; transferred: number; size: number }
  | { type: 'blob-done'; digest: string; size: number; status: 'exists' | 'mounted' | 'uploaded' | 'skipped' };

export interface CopyOptions {
  /** Blobs moved at the same time (default 3). */
  concurrency?: number;
  onEvent?: (event: CopyEvent) => void;
}

export interface CopyResult {
  digest: string;
  mediaType: string;
  size: number;
  /** Manifests written (indexes and images). */
  manifests: number;
  blobs: { uploaded: number; mounted: number; existing: number; skipped: number };
  /** Bytes streamed from source to target. */
  bytes: number;
}

export async function copyImage(
  source: ImageEndpoint,
  sourceReference: string | undefined,
  target: ImageEndpoint,
  targetTag: string | undefined,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const top = await source.resolve(sourceReference);
  const copier = new Copier(source, target, options);
  const manifest = await copier.copyManifest(top, targetTag, true);
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.bytes.length,
    manifests: copier.manifests,
    blobs: copier.counts,
    bytes: copier.bytes,
  };
}

class Copier {
  manifests = 0;
  bytes = 0;
  readonly counts = { uploaded: 0, mounted: 0, existing: 0, skipped: 0 };
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly concurrency: number;

  constructor(
    private readonly source: ImageEndpoint,
    private readonly target: ImageEndpoint,
    private readonly options: CopyOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 3);
  }

  private emit(event: CopyEvent): void {
    this.options.onEvent?.(event);
  }

  async copyManifest(descriptor: Descriptor, tag: string | undefined, named: boolean): Promise<FetchedManifest> {
    const fetched = await this.source.getManifest(descriptor.digest);
    if (
      SCHEMA1_TYPES.includes(fetched.mediaType) ||
      (fetched.manifest as { schemaVersion?: number }).schemaVersion === 1
    ) {
      throw new ClientError(
        'unsupported',
        `${this.source.label}@${descriptor.digest} is a Docker schema 1 manifest, which cannot be copied`,
        {
          hint: 'rebuild or re-push the image with a current client (schema 2 or OCI)',
        },
      );
    }
    if (isIndex(fetched.manifest, fetched.mediaType)) {
      for (const child of fetched.manifest.manifests) {
        await this.copyManifest(child, undefined, false);
      }
    } else {
      await this.copyBlobs(fetched.manifest);
    }
    this.emit({
      type: 'manifest',
      digest: fetched.digest,
      mediaType: fetched.mediaType,
      platform: descriptor.platform ? formatPlatform(descriptor.platform) : undefined,
    });
    await this.target.putManifest(fetched, tag, named ? { ...descriptor, digest: fetched.digest } : undefined);
    this.manifests++;
    return fetched;
  }

  private async copyBlobs(manifest: ImageManifest): Promise<void> {
    const descriptors = [manifest.config, ...(manifest.layers ?? [])].filter(
      (descriptor): descriptor is Descriptor => !!descriptor?.digest,
    );
    const queue = [...descriptors];
    const workers = Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.copyBlobOnce(next);
    });
    await Promise.all(workers);
  }

  /** Each digest is copied once per run, however many manifests share it. */
  private copyBlobOnce(descriptor: Descriptor): Promise<void> {
    let running = this.blobs.get(descriptor.digest);
    if (!running) {
      running = this.copyBlob(descriptor);
      this.blobs.set(descriptor.digest, running);
    }
    return running;
  }

  private async copyBlob(descriptor: Descriptor): Promise<void> {
    const { digest, size } = descriptor;
    if (isNonDistributable(descriptor.mediaType) && !(await this.source.hasBlob(digest, size))) {
      // Foreign layers are fetched by clients from their `urls`; registries need not hold them.
      this.counts.skipped++;
      this.emit({ type: 'blob-done', digest, size, status: 'skipped' });
      return;
    }
    if (await this.target.hasBlob(digest, size)) {
      this.counts.existing++;
      this.emit({ type: 'blob-done', digest, size, status: 'exists' });
      return;
    }
    this.emit({ type: 'blob-start', digest, size });
    const open = async (): Promise<Readable> => {
      const stream = await this.source.openBlob(digest, size);
      const meter = new ProgressMeter((transferred) => this.emit({ type: 'blob-progress', digest, transferred, size }));
      stream.on('error', (error) => meter.destroy(error));
      return stream.pipe(meter);
    };
    const status = await this.target.putBlob(descriptor, open, { endpoint: this.source });
    if (status === 'mounted') this.counts.mounted++;
    else {
      this.counts.uploaded++;
      this.bytes += size;
    }
    this.emit({ type: 'blob-done', digest, size, status });
  }
}

class ProgressMeter extends Transform {
  private transferred = 0;

  constructor(private readonly report: (transferred: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.transferred += chunk.length;
    this.report(this.transferred);
    callback(null, chunk);
  }
}

/**
 * OCI image layouts made offline, for clients that read and write them (`skopeo copy oci:DIR:tag`,
 * `podman pull oci:DIR:tag`): the `oci-layout` file, `index.json`, and `blobs/sha256/<hex>`.
 * Layers are real gzip-compressed tars: skopeo 1.9 gzips an uncompressed layer
 * (`application/vnd.oci.image.layer.v1.tar`) when it pushes it, which changes the layer's and
 * the manifest's digests unless `--preserve-digests` is given, and podman unpacks layers, so
 * they must be real archives. Big layers are written to disk in chunks and hashed as
 * they are written; they are never held in memory.
 */
import { createHash, randomFillSync, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER as OCI_LAYER_GZIP, OCI_MANIFEST, sha256 } from './content.js';

export { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256 };
/** The annotation that names a manifest in index.json: the `tag` of `oci:DIR:tag`. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Layer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the image config's `rootfs.diff_ids` entry. */
  diffId: string;
}

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Layer[];
}

export interface BuiltIndex {
  index: Descriptor;
  images: BuiltImage[];
}

// Tar -----------------------------------------------------------------------------------------

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header for one regular file (mode 0644, owned by root, fixed mtime for reproducibility). */
export function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 'utf8');
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(1_700_000_000, 12), 136, 'ascii');
  header.fill(' ', 148, 156); // checksum is computed with its own field as spaces
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  header.write('root', 265, 'ascii');
  header.write('root', 297, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
const TAR_END = Buffer.alloc(2 * BLOCK);

/** A small tar archive of regular files, in memory. */
export function tarOf(files: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(files)) {
    const content = Buffer.isBuffer(value) ? value : Buffer.from(value);
    parts.push(tarHeader(name, content.length), content, padding(content.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

// Hashing -------------------------------------------------------------------------------------

function hexOf(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (algorithm !== 'sha256' || !hex) throw new Error(`not a sha256 digest: ${digest}`);
  return hex;
}

/** A writable that only hashes and counts what passes through it. */
class HashSink extends Writable {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback();
  }
}

/** The sha256 digest and size of a file, streamed. */
export async function digestOfFile(path: string): Promise<{ digest: string; size: number }> {
  const sink = new HashSink();
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), sink);
  return { digest: `sha256:${sink.hash.digest('hex')}`, size: sink.bytes };
}

// The layout ----------------------------------------------------------------------------------

export class OciLayout {
  private readonly refs: Descriptor[] = [];

  private constructor(readonly dir: string) {}

  /** Creates an empty layout in `dir` (which may exist and be empty). */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const layout = new OciLayout(dir);
    await layout.save();
    return layout;
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOf(digest));
  }

  /** Stores bytes as a blob; returns its descriptor. */
  async writeBlob(content: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(content);
    await writeFile(this.blobPath(digest), content);
    return { mediaType, digest, size: content.length };
  }

  async writeJson(value: unknown, mediaType: string): Promise<Descriptor> {
    return this.writeBlob(Buffer.from(JSON.stringify(value)), mediaType);
  }

  /** A gzip-compressed tar of small files as a layer. */
  async writeLayer(files: Record<string, Buffer | string>): Promise<Layer> {
    const tar = tarOf(files);
    const descriptor = await this.writeBlob(gzipSync(tar), OCI_LAYER_GZIP);
    return { descriptor, diffId: sha256(tar) };
  }

  /**
   * A layer holding one file of `size` random bytes. The tar streams through gzip at level 0
   * (stored blocks: random bytes do not compress, and storing is fast) into a file, hashed on
   * the way twice: the tar for the diff ID, the gzip stream for the blob digest. At most one chunk
   * of the content is in memory at a time.
   */
  async writeRandomLayer(size: number, fileName = 'random.bin', chunkSize = 1 << 20): Promise<Layer> {
    const temp = join(this.dir, `.tmp-${randomUUID()}`);
    const out = createWriteStream(temp, { highWaterMark: 1 << 20 });
    const blobHash = createHash('sha256');
    let blobSize = 0;
    const gzip = createGzip({ level: 0 });
    gzip.on('data', (chunk: Buffer) => {
      blobHash.update(chunk);
      blobSize += chunk.length;
    });
    const written = pipeline(gzip, out);
    const tarHash = createHash('sha256');
    const write = async (chunk: Buffer) => {
      tarHash.update(chunk);
      if (!gzip.write(chunk)) await once(gzip, 'drain');
    };
    await write(tarHeader(fileName, size));
    for (let done = 0; done < size; ) {
      // A fresh buffer per chunk: gzip may still hold the previous one when write() returns.
      const piece = randomFillSync(Buffer.allocUnsafe(Math.min(chunkSize, size - done)));
      await write(piece);
      done += piece.length;
    }
    await write(padding(size));
    await write(TAR_END);
    gzip.end();
    await written;
    const digest = `sha256:${blobHash.digest('hex')}`;
    await rename(temp, this.blobPath(digest));
    return {
      descriptor: { mediaType: OCI_LAYER_GZIP, digest, size: blobSize },
      diffId: `sha256:${tarHash.digest('hex')}`,
    };
  }

  /** An image: a config naming the layers' diff IDs and a manifest; layers default to one small file. */
  async writeImage(options: { layers?: Layer[]; platform?: Platform; label?: string } = {}): Promise<BuiltImage> {
    const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
    const layers = options.layers ?? [await this.writeLayer({ 'hello.txt': `hello from ${randomUUID()}\n` })];
    const config = await this.writeJson(
      {
        created: '2024-01-01T00:00:00Z',
        ...platform,
        config: { Cmd: ['/hello'], Labels: { 'test.label': options.label ?? randomUUID() } },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'oci-layout test helper' })),
      },
      OCI_CONFIG,
    );
    const manifest = await this.writeJson(
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: layers.map((layer) => layer.descriptor) },
      OCI_MANIFEST,
    );
    return { manifest, config, layers };
  }

  /** A multi-platform index over one image per platform. */
  async writeIndex(platforms: Platform[]): Promise<BuiltIndex> {
    const images: BuiltImage[] = [];
    for (const platform of platforms) images.push(await this.writeImage({ platform }));
    const index = await this.writeJson(
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: images.map((image, position) => ({ ...image.manifest, platform: platforms[position] })),
      },
      OCI_INDEX,
    );
    return { index, images };
  }

  /** Names a manifest or index in index.json under `tag` (what `oci:DIR:tag` selects). */
  async tag(target: Descriptor, tag: string): Promise<void> {
    const { platform: _platform, annotations: _annotations, ...plain } = target;
    this.refs.push({ ...plain, annotations: { [REF_NAME]: tag } });
    await this.save();
  }

  private async save(): Promise<void> {
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.refs }),
    );
  }
}

// Reading a layout ----------------------------------------------------------------------------

/** The descriptors of `index.json`, by their `ref.name` annotation. */
export async function readRefs(dir: string): Promise<Map<string, Descriptor>> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  const refs = new Map<string, Descriptor>();
  for (const entry of index.manifests ?? []) {
    const name = entry.annotations?.[REF_NAME];
    if (name !== undefined) refs.set(name, entry);
  }
  return refs;
}

/**
 * Every blob of a layout as digest → size, after checking that each file's content hashes to
 * its name (streamed, so big blobs are fine).
 */
export async function readBlobs(dir: string): Promise<Map<string, number>> {
  const folder = join(dir, 'blobs', 'sha256');
  const blobs = new Map<string, number>();
  for (const hex of (await readdir(folder)).sort()) {
    const path = join(folder, hex);
    if (!(await stat(path)).isFile()) continue;
    const { digest, size } = await digestOfFile(path);
    if (digest !== `sha256:${hex}`) throw new Error(`${path}: content hashes to ${digest}`);
    blobs.set(digest, size);
  }
  return blobs;
}

/** Blob content of a layout, parsed as JSON (manifests, indexes, configs). */
export async function readJsonBlob<T = unknown>(dir: string, digest: string): Promise<T> {
  return JSON.parse(await readFile(join(dir, 'blobs', 'sha256', hexOf(digest)), 'utf8')) as T;
}

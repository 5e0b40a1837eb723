/**
 * Test content made offline: random blobs, image configs and manifests, and the requests that
 * push them. Small blobs only; large ones are streamed (see bigBlob).
 */
import { createHash, randomBytes } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

export function sha512(content: Buffer | string): string {
  return `sha512:${createHash('sha512').update(content).digest('hex')}`;
}

export interface Blob {
  digest: string;
  content: Buffer;
}

export function randomBlob(size = 1024): Blob {
  const content = randomBytes(size);
  return { digest: sha256(content), content };
}

export function jsonBlob(value: unknown): Blob {
  const content = Buffer.from(JSON.stringify(value));
  return { digest: sha256(content), content };
}

export function imageConfig(os = 'linux', architecture = 'amd64'): Blob {
  return jsonBlob({ architecture, os, rootfs: { type: 'layers', diff_ids: [] }, config: {} });
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  digest: string;
  mediaType: string;
}

export function makeImage(
  options: {
    layers?: number;
    mediaType?: string;
    extra?: Record<string, unknown>;
    os?: string;
    architecture?: string;
  } = {},
): Image {
  const mediaType = options.mediaType ?? OCI_MANIFEST;
  const docker = mediaType === DOCKER_MANIFEST;
  const config = imageConfig(options.os, options.architecture);
  const layers = Array.from({ length: options.layers ?? 2 }, () => randomBlob(512));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: config.digest, size: config.content.length },
      layers: layers.map((layer) => ({
        mediaType: docker ? DOCKER_LAYER : OCI_LAYER,
        digest: layer.digest,
        size: layer.content.length,
      })),
      ...options.extra,
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest), mediaType };
}

/** Pushes one blob with POST then PUT; returns the final response. */
export async function pushBlob(url: string, name: string, blob: Blob): Promise<Response> {
  const start = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`POST upload: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location')!, url);
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: asBody(blob.content),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status} ${await put.text()}`);
  return put;
}

export async function pushManifest(
  url: string,
  name: string,
  reference: string,
  body: Buffer,
  mediaType: string,
): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    body: asBody(body),
    headers: { 'Content-Type': mediaType },
  });
}

/** Pushes an image's blobs and manifest under `reference`; throws unless the manifest PUT is 201. */
export async function pushImage(url: string, name: string, reference: string, image: Image): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(url, name, blob);
  const response = await pushManifest(url, name, reference, image.manifest, image.mediaType);
  if (response.status !== 201) throw new Error(`PUT manifest: ${response.status} ${await response.text()}`);
  return response;
}

/** fetch's types want a plain ArrayBuffer-backed view; a Buffer is one at run time. */
export function asBody(content: Buffer): BodyInit {
  return content as unknown as BodyInit;
}

export async function errorCodes(response: Response): Promise<string[]> {
  const body = (await response.json()) as { errors: Array<{ code: string }> };
  return body.errors.map((error) => error.code);
}

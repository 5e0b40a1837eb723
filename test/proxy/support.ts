/**
 * Upstreams for the pull-through cache tests: Debian's `docker-registry` (Distribution) holding
 * images pushed with skopeo from OCI layouts made offline, with its access log kept so tests can
 * count what the cache asked it.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { OciLayout, type BuiltImage } from '../helpers/oci-layout.js';
import { pushLayout } from '../helpers/skopeo.js';

export interface UpstreamImage {
  /** The layout the image was written to (for comparing copies). */
  layout: string;
  tag: string;
  image: BuiltImage;
  /** The blobs a pull reads: config and layers. */
  blobs: string[];
}

export async function startUpstream(): Promise<TestDockerRegistry> {
  return startDockerRegistry({ accessLog: true });
}

/** Writes an image (a fresh folder per call) with `layers` random layers of `layerSize` bytes and pushes it upstream. */
export async function pushUpstreamImage(
  upstream: { host: string },
  folder: string,
  repository: string,
  tag: string,
  /** `push`: more skopeo flags (`--dest-creds user:password`). */
  options: { layers?: number; layerSize?: number; push?: string[] } = {},
): Promise<UpstreamImage> {
  const layout = await OciLayout.create(
    join(folder, `${repository.replace(/\//g, '_')}-${tag}-${randomUUID().slice(0, 8)}`),
  );
  const layers = [];
  for (let index = 0; index < (options.layers ?? 2); index++)
    layers.push(await layout.writeRandomLayer(options.layerSize ?? 256 * 1024, `file-${index}.bin`));
  const image = await layout.writeImage({ layers, label: `${repository}:${tag}` });
  await layout.tag(image.manifest, tag);
  await pushLayout(layout.dir, tag, `${upstream.host}/${repository}:${tag}`, { extra: options.push });
  return {
    layout: layout.dir,
    tag,
    image,
    blobs: [image.config.digest, ...image.layers.map((layer) => layer.descriptor.digest)],
  };
}

/** How many times the upstream's access log shows `METHOD path`. */
export function countRequests(upstream: TestDockerRegistry, method: string, path: string): number {
  return upstream.accessLog().filter((line) => line === `${method} ${path}`).length;
}

/** Waits until `check` holds (the access log is written a moment after the answer). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

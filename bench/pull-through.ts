/**
 * Row 9: pull-through caching. One upstream (Debian's docker-registry) holds the images; Berth
 * and Distribution each run as a cache of it with Distribution's `proxy:` section, the same file
 * for both. Each round pushes a fresh image upstream (a 64 MiB layer restamped, a config, a
 * manifest) and times, on each cache in alternating order:
 *
 *   9a  the cold first pull: manifest by tag, config and layer, all fetched through the cache
 *   9b  the warm pull of the same image right after (a cache hit: only a HEAD goes upstream)
 *   9c  20 concurrent cold pulls of another fresh image, until the last one has all its bytes
 *
 * A cold pull is not a cache hit: 9a and 9b are reported apart.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectStatus, request, resolveLocation } from './client.js';
import { OCI_MANIFEST, restamp, sha256, writeRandomFile } from './content.js';
import { startServer, type RunningServer, type ServerName } from './servers.js';
import { MiB } from './stats.js';
import { pushMonolithic } from './workloads.js';

const LAYER_SIZE = 64 * MiB;
const CONCURRENT = 20;
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

export interface PullThroughRow {
  samples: Record<ServerName, number[]>;
}

export interface PullThroughOptions {
  workDir: string;
  checkout: string;
  rounds: number;
  log: (message: string) => void;
  rows: { cold: PullThroughRow; warm: PullThroughRow; concurrent: PullThroughRow };
}

interface Image {
  repository: string;
  manifestDigest: string;
  config: { digest: string; size: number };
  layer: { digest: string; size: number };
}

async function pushImage(upstream: string, repository: string, layerFile: string, stamp: string): Promise<Image> {
  const layerDigest = await restamp(layerFile, stamp);
  await pushMonolithic(upstream, repository, layerFile, LAYER_SIZE, layerDigest);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', stamp, rootfs: { type: 'layers' } }));
  const configDigest = sha256(config);
  const started = expectStatus(
    await request(`${upstream}/v2/${repository}/blobs/uploads/`, { method: 'POST', keepBody: true }),
    202,
    'POST upload',
  );
  const location = resolveLocation(upstream, started);
  location.searchParams.set('digest', configDigest);
  const put = await request(location.href, {
    method: 'PUT',
    body: config,
    headers: { 'Content-Type': 'application/octet-stream' },
    keepBody: true,
  });
  expectStatus(put, 201, 'PUT config');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: LAYER_SIZE }],
    }),
  );
  const tagged = await request(`${upstream}/v2/${repository}/manifests/v1`, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_MANIFEST },
    body: manifest,
    keepBody: true,
  });
  expectStatus(tagged, 201, 'PUT manifest');
  return {
    repository,
    manifestDigest: sha256(manifest),
    config: { digest: configDigest, size: config.length },
    layer: { digest: layerDigest, size: LAYER_SIZE },
  };
}

/** What a client does: the manifest by tag, then every blob; checks status and byte counts. */
async function pullImage(cache: string, image: Image): Promise<void> {
  const manifest = await request(`${cache}/v2/${image.repository}/manifests/v1`, {
    method: 'GET',
    headers: { Accept: OCI_MANIFEST },
    keepBody: true,
  });
  expectStatus(manifest, 200, 'GET manifest through the cache');
  if (manifest.headers['docker-content-digest'] !== image.manifestDigest)
    throw new Error(`the cache served manifest ${String(manifest.headers['docker-content-digest'])}`);
  await Promise.all(
    [image.config, image.layer].map(async (blob) => {
      const reply = expectStatus(
        await request(`${cache}/v2/${image.repository}/blobs/${blob.digest}`, { method: 'GET' }),
        200,
        'GET blob through the cache',
      );
      if (reply.bytes !== blob.size) throw new Error(`GET blob: ${reply.bytes} bytes, expected ${blob.size}`);
    }),
  );
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function pullThrough(options: PullThroughOptions): Promise<void> {
  const { workDir, checkout, log, rows } = options;
  const folder = (name: string) => {
    const path = join(workDir, name);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const layerFile = join(workDir, 'pull-through-layer.bin');
  await writeRandomFile(layerFile, LAYER_SIZE);
  const upstream = await startServer('distribution', {
    workDir: folder('pt-upstream'),
    root: folder('pt-upstream/root'),
    checkout,
  });
  const started: RunningServer[] = [upstream];
  try {
    const proxy = `proxy:\n  remoteurl: ${upstream.url}\n`;
    const caches: Record<ServerName, RunningServer> = {
      berth: await startServer('berth', {
        workDir: folder('pt-berth'),
        root: folder('pt-berth/root'),
        checkout,
        extraConfig: proxy,
      }),
      distribution: await startServer('distribution', {
        workDir: folder('pt-distribution'),
        root: folder('pt-distribution/root'),
        checkout,
        extraConfig: proxy,
      }),
    };
    started.push(caches.berth, caches.distribution);
    writeFileSync(join(workDir, 'pt-config.txt'), proxy);
    for (let round = 0; round < options.rounds; round++) {
      log(`row 9, round ${round + 1}: cold, warm and ${CONCURRENT} concurrent cold pulls through each cache`);
      const image = await pushImage(upstream.url, `bench/pt${round}`, layerFile, `pt-${round}`);
      const crowd = await pushImage(upstream.url, `bench/crowd${round}`, layerFile, `crowd-${round}`);
      const order = round % 2 === 0 ? [caches.berth, caches.distribution] : [caches.distribution, caches.berth];
      for (const cache of order) {
        rows.cold.samples[cache.name].push(await seconds(() => pullImage(cache.url, image)));
        rows.warm.samples[cache.name].push(await seconds(() => pullImage(cache.url, image)));
      }
      for (const cache of order) {
        rows.concurrent.samples[cache.name].push(
          await seconds(() => Promise.all(Array.from({ length: CONCURRENT }, () => pullImage(cache.url, crowd)))),
        );
      }
    }
  } finally {
    await Promise.all(started.map((server) => server.stop()));
  }
}

/**
 * What the garbage collection tests share: pushing indexes and referrers, pulling an image back
 * with every digest verified, reading blobs on disk, aging a storage tree (so content counts as
 * older than the grace period), and writing the protocol's files as another process would.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GcReport } from '../../src/registry/gc/collector.js';
import {
  imageConfig,
  jsonBlob,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  pushBlob,
  pushImage,
  pushManifest,
  sha256,
  type Blob,
  type Image,
} from '../helpers/content.js';
import { listTree, V2 } from '../helpers/files.js';
import {
  blobDescriptor,
  describe as describeDoc,
  imageDoc,
  makeArtifact,
  makeIndex,
  type Doc,
} from '../helpers/manifests.js';

export const SIGNATURE = 'application/vnd.example.signature.v1';
export const SBOM = 'application/vnd.example.sbom.v1';

/** An OCI image of these layers (so tests can share layers between images). */
export function imageOf(layers: Blob[], architecture = 'amd64'): Image {
  const config = imageConfig('linux', architecture);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.content.length },
      layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: layer.digest, size: layer.content.length })),
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest), mediaType: OCI_MANIFEST };
}

/** Runs garbage collection through the admin endpoint and returns its report. */
export async function adminGc(url: string, query = ''): Promise<GcReport> {
  const response = await fetch(`${url}/_berth/admin/gc${query ? `?${query}` : ''}`, { method: 'POST' });
  const text = await response.text();
  assert.equal(response.status, 200, `POST /_berth/admin/gc: ${text}`);
  return JSON.parse(text) as GcReport;
}

/** Pushes the images by digest, then an index of them under `tag`. */
export async function pushIndex(url: string, name: string, tag: string, children: Image[]): Promise<Doc> {
  for (const child of children) await pushImage(url, name, child.digest, child);
  const index = makeIndex(children.map((child) => describeDoc(imageDoc(child))));
  const response = await pushManifest(url, name, tag, index.bytes, index.mediaType);
  assert.equal(response.status, 201, `PUT index: ${await response.text()}`);
  return index;
}

/** Pushes, by digest, an artifact whose subject is `subject`, with a blob of its own. */
export async function pushReferrer(url: string, name: string, subject: Doc, artifactType: string): Promise<Doc> {
  const payload = jsonBlob({ artifactType, subject: subject.digest, nonce: Math.random() });
  await pushBlob(url, name, payload);
  const referrer = makeArtifact({ artifactType, subject, layers: [blobDescriptor(payload, 'application/json')] });
  await pushBlob(url, name, jsonBlob({}));
  const response = await pushManifest(url, name, referrer.digest, referrer.bytes, referrer.mediaType);
  assert.equal(response.status, 201, `PUT referrer: ${await response.text()}`);
  return referrer;
}

/**
 * Pulls a manifest and everything it references (index children recursively), checking each
 * digest against the bytes served; returns every digest pulled. Throws on any failure.
 */
export async function pullVerified(
  url: string,
  name: string,
  reference: string,
  pulled = new Set<string>(),
): Promise<Set<string>> {
  const accept = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ].join(', ');
  const response = await fetch(`${url}/v2/${name}/manifests/${reference}`, { headers: { Accept: accept } });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200)
    throw new Error(`GET ${name} manifest ${reference}: ${response.status} ${bytes.toString()}`);
  const digest = sha256(bytes);
  if (reference.includes(':') && digest !== reference)
    throw new Error(`${name}@${reference}: served bytes hash to ${digest}`);
  pulled.add(digest);
  const body = JSON.parse(bytes.toString()) as {
    config?: { digest: string };
    layers?: Array<{ digest: string }>;
    manifests?: Array<{ digest: string }>;
  };
  for (const child of body.manifests ?? []) await pullVerified(url, name, child.digest, pulled);
  for (const blob of [...(body.config ? [body.config] : []), ...(body.layers ?? [])]) {
    const blobResponse = await fetch(`${url}/v2/${name}/blobs/${blob.digest}`);
    const content = Buffer.from(await blobResponse.arrayBuffer()); // test blobs are small
    if (blobResponse.status !== 200) throw new Error(`GET ${name} blob ${blob.digest}: ${blobResponse.status}`);
    if (sha256(content) !== blob.digest) throw new Error(`${name} blob ${blob.digest}: served bytes hash differently`);
    pulled.add(blob.digest);
  }
  return pulled;
}

/** Every blob stored under a registry root: digest → size in bytes. */
export function storedBlobs(root: string): Map<string, number> {
  const blobs = new Map<string, number>();
  const base = join(root, V2, 'blobs');
  for (const path of listTree(base)) {
    if (!path.endsWith('/data')) continue;
    const [algorithm, , hex] = path.split('/') as [string, string, string];
    blobs.set(`${algorithm}:${hex}`, statSync(join(base, path)).size);
  }
  return blobs;
}

/** Sets the modification time of every file and folder under the storage tree `ms` into the past. */
export function ageStorage(root: string, ms: number): void {
  const when = new Date(Date.now() - ms);
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) visit(full);
      utimesSync(full, when, when);
    }
  };
  visit(join(root, V2));
}

/** Every path under the root with its size and modification time: equal snapshots mean nothing changed. */
export function snapshot(root: string): string[] {
  return listTree(root).map((path) => {
    const info = statSync(join(root, path));
    return `${path} ${info.isDirectory() ? '-' : info.size} ${info.mtimeMs}`;
  });
}

const GC_FOLDER = join(V2, '_berth', 'gc');

/**
 * A tombstone, as a sweeping run of another process writes it, with that run's file: by default
 * a run of this host in a live process (this one) that renews nothing, so writers wait for it
 * until its run file looks dead; `owner: null` writes no run file (a run that died long ago).
 */
export function writeTombstone(
  root: string,
  run: string,
  digests: string[],
  owner: { pid: number; host: string } | null = { pid: process.pid, host: hostname() },
): string {
  if (owner) {
    const runs = join(root, GC_FOLDER, 'runs');
    mkdirSync(runs, { recursive: true });
    writeFileSync(join(runs, run), JSON.stringify({ run, ...owner, epoch: 0, beat: 1 }));
  }
  const folder = join(root, GC_FOLDER, 'tombstones');
  mkdirSync(folder, { recursive: true });
  const path = join(folder, run);
  writeFileSync(path, JSON.stringify({ run, digests }));
  return path;
}

/** An intent, as a write in progress in another process declares it. */
export function writeIntent(root: string, id: string, repository: string, digests: string[], ageMs = 0): string {
  const folder = join(root, GC_FOLDER, 'intents');
  mkdirSync(folder, { recursive: true });
  const path = join(folder, id);
  writeFileSync(path, JSON.stringify({ id, repository, digests, manifests: [] }));
  if (ageMs > 0) utimesSync(path, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
  return path;
}

/** Intent files present now (writes in progress). */
export function intents(root: string): string[] {
  try {
    return readdirSync(join(root, GC_FOLDER, 'intents'));
  } catch {
    return [];
  }
}

/** Polls `check` until it holds; fails after `boundMs` (a bound against hangs, not a timing assertion). */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * What the online collection storms share (concurrency.test.ts, multiarch-referrers.test.ts):
 * pushes that tell a refusal caused by a sweep from a failure, retried as a client would, and
 * the loop that runs the workers beside the collector within bounds.
 *
 * A push refused with MANIFEST_BLOB_UNKNOWN (a blob or child swept between its upload and the
 * manifest, once older than the grace period) is safe, and is retried.
 */
import { pushBlob, pushManifest, type Blob } from '../helpers/content.js';
import type { Doc } from '../helpers/manifests.js';
import type { GcReport } from '../../src/registry/gc/collector.js';
import { adminGc } from './support.js';

const MAX_TRIES = 25;

/** A storm runs for at least `minMs`, and on until it has done enough, but never past `maxMs`. */
export interface StormBounds {
  minMs: number;
  maxMs: number;
  minRounds: number;
  minPushes: number;
}

export interface PushFigures {
  rounds: number;
  pushes: number;
  refused: number;
  gaveUp: number;
}

export class Refused extends Error {}

export function pick<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}

/** PUTs a manifest; throws Refused when a sweep took what it references. */
export async function putManifest(url: string, name: string, reference: string, doc: Doc): Promise<void> {
  const response = await pushManifest(url, name, reference, doc.bytes, doc.mediaType);
  const text = await response.text();
  if (response.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN')) throw new Refused(text);
  if (response.status !== 201) throw new Error(`PUT ${name} manifest ${reference}: ${response.status} ${text}`);
}

export async function upload(url: string, name: string, blob: Blob): Promise<void> {
  await (await pushBlob(url, name, blob)).arrayBuffer();
}

/** Retries a push the registry refused because a sweep took one of its blobs; false when it gave up. */
export async function retrying(figures: PushFigures, push: () => Promise<void>): Promise<boolean> {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    try {
      await push();
      figures.pushes++;
      return true;
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      figures.refused++;
    }
  }
  figures.gaveUp++;
  return false;
}

/**
 * Runs `workers` loops of `step` beside a loop of collections through the admin endpoint (the
 * query of each round from `gcQuery`), within `bounds`, so a slow machine still runs enough to
 * mean something. `first` runs once per worker before its loop.
 */
export async function runStorm(options: {
  url: string;
  bounds: StormBounds;
  workers: number;
  figures: PushFigures;
  step: (worker: number) => Promise<void>;
  first?: (worker: number) => Promise<void>;
  gcQuery: (round: number) => string;
  record: (report: GcReport) => void;
}): Promise<void> {
  const { bounds, figures } = options;
  const started = Date.now();
  const done = () => {
    const elapsed = Date.now() - started;
    if (elapsed >= bounds.maxMs) return true;
    return elapsed >= bounds.minMs && figures.rounds >= bounds.minRounds && figures.pushes >= bounds.minPushes;
  };
  const workers = Array.from({ length: options.workers }, async (_, worker) => {
    await options.first?.(worker);
    while (!done()) await options.step(worker);
  });
  const collector = (async () => {
    while (!done()) options.record(await adminGc(options.url, options.gcQuery(figures.rounds)));
  })();
  await Promise.all([...workers, collector]);
}

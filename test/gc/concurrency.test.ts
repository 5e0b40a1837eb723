/**
 * Online garbage collection under load: clients push images that share layers, push indexes and
 * referrers, mount blobs across repositories, re-tag and delete, while garbage collection runs
 * over and over through the admin endpoint. Afterwards every manifest that was acknowledged and
 * not deleted pulls completely, with every digest verified. Each phase runs until it has done
 * enough (BOUNDS), within a bound in time, and prints its figures (rounds included).
 *
 * A push refused with MANIFEST_BLOB_UNKNOWN (a blob swept between its upload and the manifest,
 * once older than the grace period) is safe, and is retried as a client would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { asBody, randomBlob, type Image } from '../helpers/content.js';
import { describe as describeDoc, imageDoc, makeIndex, type Doc } from '../helpers/manifests.js';
import type { GcReport } from '../../src/registry/gc/collector.js';
import { adminGc, imageOf, pullVerified, pushReferrer, SIGNATURE } from './support.js';
import { pick as pickOne, putManifest, Refused, retrying, runStorm, upload, type StormBounds } from './storm.js';

function pick<T>(items: readonly T[]): T {
  return pickOne(items)!;
}

const REPOSITORIES = ['load/a', 'load/b', 'load/c'];
const WORKERS = 6;
const TAGS_PER_WORKER = 3;
/** Each phase: at least 3 s, 8 collections and 40 acknowledged pushes; at most 20 s. */
const BOUNDS: StormBounds = { minMs: 3_000, maxMs: 20_000, minRounds: 8, minPushes: 40 };

interface Acknowledged {
  name: string;
  digest: string;
  kind: 'image' | 'index' | 'referrer';
  image?: Image;
  deleted: boolean;
  /**
   * A worker is re-tagging or deleting it: no other worker may pick it meanwhile, or the test's
   * own record of the tags could disagree with the registry (a re-tag racing a delete).
   */
  busy?: boolean;
}

interface Figures {
  rounds: number;
  blobsDeleted: number;
  bytesFreed: number;
  manifestsDeleted: number;
  keptByRescan: number;
  pushes: number;
  refused: number;
  gaveUp: number;
  deletes: number;
  retags: number;
  mounts: number;
}

class Storm {
  readonly acknowledged: Acknowledged[] = [];
  /** What each worker's tag names now: `name:tag` → digest (tags are per worker, so this is exact). */
  readonly tags = new Map<string, string>();
  readonly figures: Figures = {
    rounds: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    manifestsDeleted: 0,
    keptByRescan: 0,
    pushes: 0,
    refused: 0,
    gaveUp: 0,
    deletes: 0,
    retags: 0,
    mounts: 0,
  };
  private readonly shared = Array.from({ length: 4 }, () => randomBlob(2048));

  constructor(private readonly url: string) {}

  private live(name?: string, kind?: Acknowledged['kind']): Acknowledged[] {
    return this.acknowledged.filter(
      (entry) => !entry.deleted && !entry.busy && (!name || entry.name === name) && (!kind || entry.kind === kind),
    );
  }

  private newImage(): Image {
    return imageOf([pick(this.shared), randomBlob(1024)], pick(['amd64', 'arm64']));
  }

  private async pushImage(name: string, reference: string, image: Image, skip: string[] = []): Promise<void> {
    for (const blob of [image.config, ...image.layers])
      if (!skip.includes(blob.digest)) await upload(this.url, name, blob);
    await putManifest(this.url, name, reference, imageDoc(image));
  }

  private tagOf(worker: number): string {
    return `w${worker}-t${Math.floor(Math.random() * TAGS_PER_WORKER)}`;
  }

  async step(worker: number): Promise<void> {
    const name = pick(REPOSITORIES);
    const roll = Math.random();
    if (roll < 0.35) {
      const image = this.newImage();
      const tag = this.tagOf(worker);
      if (await retrying(this.figures, () => this.pushImage(name, tag, image))) {
        this.acknowledged.push({ name, digest: image.digest, kind: 'image', image, deleted: false });
        this.tags.set(`${name}:${tag}`, image.digest);
      }
    } else if (roll < 0.5) {
      const children = [this.newImage(), this.newImage()];
      const index = makeIndex(children.map((child) => describeDoc(imageDoc(child))));
      const tag = this.tagOf(worker);
      const pushed = await retrying(this.figures, async () => {
        for (const child of children) await this.pushImage(name, child.digest, child);
        await putManifest(this.url, name, tag, index);
      });
      if (pushed) {
        this.acknowledged.push({ name, digest: index.digest, kind: 'index', deleted: false });
        this.tags.set(`${name}:${tag}`, index.digest);
      }
    } else if (roll < 0.6) {
      const subject = this.live(name, 'image');
      if (subject.length === 0) return;
      const target = pick(subject);
      let referrer: Doc | undefined;
      await retrying(this.figures, async () => {
        try {
          referrer = await pushReferrer(this.url, name, imageDoc(target.image!), SIGNATURE);
        } catch (error) {
          if (String(error).includes('MANIFEST_BLOB_UNKNOWN')) throw new Refused(String(error));
          throw error;
        }
      });
      if (referrer) this.acknowledged.push({ name, digest: referrer.digest, kind: 'referrer', deleted: false });
    } else if (roll < 0.75) {
      const images = this.live(name, 'image');
      if (images.length === 0) return;
      const victim = pick(images);
      victim.deleted = true; // from now on, never expected to pull
      victim.busy = true; // and never picked again
      const response = await fetch(`${this.url}/v2/${name}/manifests/${victim.digest}`, { method: 'DELETE' });
      await response.arrayBuffer();
      if (response.status === 202) this.figures.deletes++;
      // The registry removed every tag naming it, whichever worker set it.
      for (const [key, digest] of this.tags)
        if (digest === victim.digest && key.startsWith(`${name}:`)) this.tags.delete(key);
    } else if (roll < 0.9) {
      const images = this.live(name, 'image');
      if (images.length === 0) return;
      const target = pick(images);
      const tag = this.tagOf(worker);
      target.busy = true;
      try {
        if (await retrying(this.figures, () => putManifest(this.url, name, tag, imageDoc(target.image!)))) {
          this.figures.retags++;
          this.tags.set(`${name}:${tag}`, target.digest);
        }
      } finally {
        target.busy = false;
      }
    } else {
      // Mount a layer from another repository, then push an image that uses it.
      const from = pick(REPOSITORIES.filter((other) => other !== name));
      const sources = this.live(from, 'image');
      if (sources.length === 0) return;
      const layer = pick(sources).image!.layers[1]!;
      const image = imageOf([layer, randomBlob(512)]);
      const tag = this.tagOf(worker);
      const pushed = await retrying(this.figures, async () => {
        const mount = await fetch(`${this.url}/v2/${name}/blobs/uploads/?mount=${layer.digest}&from=${from}`, {
          method: 'POST',
        });
        await mount.arrayBuffer();
        if (mount.status === 201) {
          this.figures.mounts++;
        } else {
          const location = new URL(mount.headers.get('location')!, this.url);
          location.searchParams.set('digest', layer.digest);
          const put = await fetch(location, {
            method: 'PUT',
            body: asBody(layer.content),
            headers: { 'Content-Type': 'application/octet-stream' },
          });
          await put.arrayBuffer();
          assert.equal(put.status, 201);
        }
        await this.pushImage(name, tag, image, [layer.digest]);
      });
      if (pushed) {
        this.acknowledged.push({ name, digest: image.digest, kind: 'image', image, deleted: false });
        this.tags.set(`${name}:${tag}`, image.digest);
      }
    }
  }

  record(report: GcReport): void {
    this.figures.rounds++;
    this.figures.blobsDeleted += report.blobsDeleted;
    this.figures.bytesFreed += report.bytesFreed;
    this.figures.manifestsDeleted += report.manifestsDeleted;
    this.figures.keptByRescan += report.keptByRescan;
  }

  run(bounds: StormBounds, gcQuery: (round: number) => string): Promise<void> {
    return runStorm({
      url: this.url,
      bounds,
      workers: WORKERS,
      figures: this.figures,
      step: (worker) => this.step(worker),
      gcQuery,
      record: (report) => this.record(report),
    });
  }
}

async function verifyAcknowledged(url: string, storm: Storm): Promise<number> {
  let verified = 0;
  for (const entry of storm.acknowledged) {
    if (entry.deleted) continue;
    await pullVerified(url, entry.name, entry.digest).catch((error: unknown) => {
      throw new Error(
        `acknowledged ${entry.kind} ${entry.name}@${entry.digest} does not pull: ${(error as Error).message}`,
      );
    });
    verified++;
  }
  return verified;
}

async function verifyTags(url: string, storm: Storm): Promise<number> {
  for (const [key, digest] of storm.tags) {
    const [name, tag] = key.split(':') as [string, string];
    const pulled = await pullVerified(url, name, tag).catch((error: unknown) => {
      throw new Error(`tag ${key} does not pull: ${(error as Error).message}`);
    });
    assert.ok(pulled.has(digest), `${key} names ${digest}`);
  }
  return storm.tags.size;
}

describe('online garbage collection while clients push, re-tag and delete', () => {
  const phases = [
    { title: 'grace period 1 s, every revision kept', grace: '1s', query: () => '', acknowledged: true },
    { title: 'no grace period, every revision kept', grace: '0s', query: () => '', acknowledged: true },
    {
      title: 'no grace period, untagged manifests removed every other round',
      grace: '0s',
      query: (round: number) => (round % 2 === 1 ? 'deleteuntagged=true' : ''),
      // Untagged manifests (referrers pushed by digest, re-tagged images) may go: tags are checked.
      acknowledged: false,
    },
  ];
  for (const phase of phases) {
    describe(phase.title, () => {
      let server: TestBerth;
      before(async () => (server = await startBerth({ config: { berth: { gc: { graceperiod: phase.grace } } } })));
      after(() => server.close());

      it(
        phase.acknowledged
          ? 'never loses an acknowledged manifest that was not deleted'
          : 'never loses a tagged manifest',
        async () => {
          const storm = new Storm(server.url);
          await storm.run(BOUNDS, phase.query);
          storm.record(await adminGc(server.url)); // one more after the storm
          const verified = phase.acknowledged ? await verifyAcknowledged(server.url, storm) : 0;
          const tags = await verifyTags(server.url, storm);
          console.log(`gc concurrency (${phase.title}): ${JSON.stringify({ ...storm.figures, verified, tags })}`);
          assert.ok(
            storm.figures.rounds >= BOUNDS.minRounds,
            `at least ${BOUNDS.minRounds} rounds ran (${storm.figures.rounds})`,
          );
          assert.ok(
            storm.figures.pushes >= BOUNDS.minPushes,
            `enough pushes to mean something (${storm.figures.pushes})`,
          );
          assert.ok(storm.figures.blobsDeleted > 0, 'the rounds really swept');
          assert.ok(tags > 0 && (!phase.acknowledged || verified > 0));
        },
      );
    });
  }
});

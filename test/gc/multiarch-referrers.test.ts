/**
 * Online garbage collection while clients push multi-arch images and their referrers: each
 * worker pushes image indexes (three platform manifests pushed by digest, then the index by
 * tag), signatures and SBOMs whose `subject` is an index or one of its platform manifests,
 * re-tags indexes, removes tags, deletes indexes and revokes referrers, while collection runs
 * in a loop with a grace period of 0. Afterwards:
 *
 * - every tag pulls the index it was last given, with every child and blob byte-identical;
 * - every referrer of a kept subject is listed by `GET /v2/<name>/referrers/<subject>` and
 *   pulls; a revoked referrer is listed no more;
 * - one more collection with `deleteuntagged` leaves exactly what the tags reach (with their
 *   referrers) in storage: every deleted, revoked or untagged manifest and every blob only they
 *   used is gone, and a further run finds nothing to delete.
 *
 * Which subjects are kept depends on the phase: with every revision kept, every subject not
 * deleted; with `deleteuntagged` on every other round, the subjects a pinned tag (pushed once, never
 * moved) reaches, since an untagged subject may go with its referrers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { jsonBlob, randomBlob, type Image } from '../helpers/content.js';
import { V2 } from '../helpers/files.js';
import {
  blobDescriptor,
  describe as describeDoc,
  imageDoc,
  makeArtifact,
  makeIndex,
  type Doc,
} from '../helpers/manifests.js';
import type { GcReport } from '../../src/registry/gc/collector.js';
import { adminGc, imageOf, pullVerified, SBOM, SIGNATURE, storedBlobs } from './support.js';
import { pick, putManifest, retrying, runStorm, upload, type StormBounds } from './storm.js';

const REPOSITORIES = ['multi/a', 'multi/b'];
const PLATFORMS = ['amd64', 'arm64', 's390x'];
const WORKERS = 5;
const TAGS_PER_WORKER = 3;
/** Each phase: at least 3 s, 8 collections and 20 acknowledged pushes; at most 20 s. */
const BOUNDS: StormBounds = { minMs: 3_000, maxMs: 20_000, minRounds: 8, minPushes: 20 };

interface IndexEntry {
  name: string;
  doc: Doc;
  children: Image[];
  /** Pushed under a tag of its own that nothing moves or deletes. */
  pinned: boolean;
  deleted: boolean;
  /** A worker is re-tagging or deleting it: no other worker picks it meanwhile. */
  busy: boolean;
}

interface ReferrerEntry {
  name: string;
  doc: Doc;
  artifactType: string;
  subject: string;
  /** Its subject is a pinned index or one of its children. */
  pinnedSubject: boolean;
  /** Its subject is an index the test deleted later (children are never deleted). */
  subjectIndex?: IndexEntry;
  revoked: boolean;
  busy: boolean;
}

interface Figures {
  rounds: number;
  blobsDeleted: number;
  manifestsDeleted: number;
  keptByRescan: number;
  pushes: number;
  refused: number;
  gaveUp: number;
  indexes: number;
  referrers: number;
  retags: number;
  untags: number;
  deletes: number;
  revoked: number;
}

async function remove(url: string, name: string, reference: string): Promise<number> {
  const response = await fetch(`${url}/v2/${name}/manifests/${reference}`, { method: 'DELETE' });
  await response.arrayBuffer();
  return response.status;
}

class Storm {
  readonly indexes: IndexEntry[] = [];
  readonly referrers: ReferrerEntry[] = [];
  /** What each tag names now: `name:tag` → digest (worker tags are per worker, so this is exact). */
  readonly tags = new Map<string, string>();
  readonly figures: Figures = {
    rounds: 0,
    blobsDeleted: 0,
    manifestsDeleted: 0,
    keptByRescan: 0,
    pushes: 0,
    refused: 0,
    gaveUp: 0,
    indexes: 0,
    referrers: 0,
    retags: 0,
    untags: 0,
    deletes: 0,
    revoked: 0,
  };
  private readonly shared = Array.from({ length: 4 }, () => randomBlob(2048));
  private pins = 0;

  constructor(private readonly url: string) {}

  private retrying(push: () => Promise<void>): Promise<boolean> {
    return retrying(this.figures, push);
  }

  private liveIndexes(name: string): IndexEntry[] {
    return this.indexes.filter((entry) => entry.name === name && !entry.deleted && !entry.busy);
  }

  private tagOf(worker: number): string {
    return `w${worker}-t${Math.floor(Math.random() * TAGS_PER_WORKER)}`;
  }

  /** Before the storm: one pinned index per repository, so referrers of kept subjects are always pushed. */
  async pinOne(name: string): Promise<void> {
    await this.pushIndex(0, name, true);
    this.figures.pushes = 0;
    this.figures.indexes = 0;
  }

  private async pushIndex(worker: number, name: string, pinned = Math.random() < 0.3): Promise<void> {
    const children = PLATFORMS.map((platform) =>
      imageOf([this.shared[Math.floor(Math.random() * this.shared.length)]!, randomBlob(1024)], platform),
    );
    const doc = makeIndex(
      children.map((child, at) =>
        describeDoc(imageDoc(child), { platform: { os: 'linux', architecture: PLATFORMS[at] } }),
      ),
    );
    const tag = pinned ? `pin-${this.pins++}` : this.tagOf(worker);
    const pushed = await this.retrying(async () => {
      for (const child of children) {
        for (const blob of [child.config, ...child.layers]) await upload(this.url, name, blob);
        await putManifest(this.url, name, child.digest, imageDoc(child));
      }
      await putManifest(this.url, name, tag, doc);
    });
    if (!pushed) return;
    this.figures.indexes++;
    this.indexes.push({ name, doc, children, pinned, deleted: false, busy: false });
    this.tags.set(`${name}:${tag}`, doc.digest);
  }

  /** A signature or an SBOM of an index or of one of its platform manifests, pushed by digest. */
  private async pushReferrer(name: string, ofPinned = Math.random() < 0.6): Promise<void> {
    const candidates = this.liveIndexes(name);
    const index = pick(ofPinned ? candidates.filter((entry) => entry.pinned) : candidates);
    if (!index) return;
    const child = Math.random() < 0.5 ? pick(index.children) : undefined;
    const subject = child ? imageDoc(child) : index.doc;
    const artifactType = Math.random() < 0.5 ? SIGNATURE : SBOM;
    const payload = jsonBlob({ artifactType, subject: subject.digest, nonce: Math.random() });
    const empty = jsonBlob({});
    const doc = makeArtifact({ artifactType, subject, layers: [blobDescriptor(payload, 'application/json')] });
    const pushed = await this.retrying(async () => {
      await upload(this.url, name, payload);
      await upload(this.url, name, empty);
      await putManifest(this.url, name, doc.digest, doc);
    });
    if (!pushed) return;
    this.figures.referrers++;
    this.referrers.push({
      name,
      doc,
      artifactType,
      subject: subject.digest,
      pinnedSubject: index.pinned,
      ...(child ? {} : { subjectIndex: index }),
      revoked: false,
      busy: false,
    });
  }

  private async retag(worker: number, name: string): Promise<void> {
    const target = pick(this.liveIndexes(name));
    if (!target) return;
    const tag = this.tagOf(worker);
    target.busy = true;
    try {
      if (await this.retrying(() => putManifest(this.url, name, tag, target.doc))) {
        this.figures.retags++;
        this.tags.set(`${name}:${tag}`, target.doc.digest);
      }
    } finally {
      target.busy = false;
    }
  }

  private async untag(worker: number, name: string): Promise<void> {
    const tag = this.tagOf(worker);
    if (!this.tags.has(`${name}:${tag}`)) return;
    const status = await remove(this.url, name, tag);
    // 404: a delete of the manifest it named removed it first.
    assert.ok(status === 202 || status === 404, `DELETE ${name}:${tag}: ${status}`);
    this.tags.delete(`${name}:${tag}`);
    this.figures.untags++;
  }

  private async deleteIndex(name: string): Promise<void> {
    const victim = pick(this.liveIndexes(name).filter((entry) => !entry.pinned));
    if (!victim) return;
    victim.deleted = true; // from now on, never expected to pull
    victim.busy = true; // and never picked again
    const status = await remove(this.url, name, victim.doc.digest);
    // 404: a sweep had already removed it, untagged (deleteuntagged).
    assert.ok(status === 202 || status === 404, `DELETE ${name}@${victim.doc.digest}: ${status}`);
    this.figures.deletes++;
    // The registry removed every tag naming it, whichever worker set it.
    for (const [key, digest] of this.tags)
      if (digest === victim.doc.digest && key.startsWith(`${name}:`)) this.tags.delete(key);
  }

  private async revoke(name: string): Promise<void> {
    const victim = pick(this.referrers.filter((entry) => entry.name === name && !entry.revoked && !entry.busy));
    if (!victim) return;
    victim.revoked = true;
    victim.busy = true;
    const status = await remove(this.url, name, victim.doc.digest);
    assert.ok(status === 202 || status === 404, `DELETE referrer ${name}@${victim.doc.digest}: ${status}`);
    this.figures.revoked++;
  }

  async step(worker: number): Promise<void> {
    const name = pick(REPOSITORIES)!;
    const roll = Math.random();
    if (roll < 0.35) await this.pushIndex(worker, name);
    else if (roll < 0.6) await this.pushReferrer(name);
    else if (roll < 0.75) await this.retag(worker, name);
    else if (roll < 0.85) await this.untag(worker, name);
    else if (roll < 0.95) await this.deleteIndex(name);
    else await this.revoke(name);
  }

  record(report: GcReport): void {
    this.figures.rounds++;
    this.figures.blobsDeleted += report.blobsDeleted;
    this.figures.manifestsDeleted += report.manifestsDeleted;
    this.figures.keptByRescan += report.keptByRescan;
  }

  run(gcQuery: (round: number) => string): Promise<void> {
    return runStorm({
      url: this.url,
      bounds: BOUNDS,
      workers: WORKERS,
      figures: this.figures,
      // Each worker starts with a referrer of a pinned index, pushed while the collector runs.
      first: () => this.pushReferrer(pick(REPOSITORIES)!, true),
      step: (worker) => this.step(worker),
      gcQuery,
      record: (report) => this.record(report),
    });
  }
}

/** The digests an index pulls: itself, its children, their configs and layers. */
function closureOf(index: IndexEntry): Set<string> {
  const digests = new Set([index.doc.digest]);
  for (const child of index.children) {
    digests.add(child.digest);
    for (const blob of [child.config, ...child.layers]) digests.add(blob.digest);
  }
  return digests;
}

async function referrersOf(url: string, name: string, subject: string): Promise<Map<string, string | undefined>> {
  const response = await fetch(`${url}/v2/${name}/referrers/${subject}`);
  const text = await response.text();
  assert.equal(response.status, 200, `GET referrers of ${name}@${subject}: ${text}`);
  const body = JSON.parse(text) as { manifests: Array<{ digest: string; artifactType?: string }> };
  return new Map(body.manifests.map((descriptor) => [descriptor.digest, descriptor.artifactType]));
}

/** Every tag pulls the index the test last gave it, with exactly its children and blobs. */
async function verifyTags(url: string, storm: Storm): Promise<number> {
  const byDigest = new Map(storm.indexes.map((entry) => [`${entry.name}@${entry.doc.digest}`, entry]));
  for (const [key, digest] of storm.tags) {
    const [name, tag] = key.split(':') as [string, string];
    const entry = byDigest.get(`${name}@${digest}`);
    assert.ok(entry, `${key} names an index the test pushed`);
    const pulled = await pullVerified(url, name, tag).catch((error: unknown) => {
      throw new Error(`tag ${key} (${digest}) does not pull: ${(error as Error).message}`);
    });
    assert.deepEqual([...pulled].sort(), [...closureOf(entry)].sort(), `${key} pulls ${digest} and all it holds`);
  }
  return storm.tags.size;
}

/** Whether the test expects this referrer's subject to be kept. */
function subjectKept(entry: ReferrerEntry, everyRevisionKept: boolean): boolean {
  if (everyRevisionKept) return !entry.subjectIndex?.deleted;
  return entry.pinnedSubject;
}

/** Referrers of kept subjects are listed and pull; revoked ones are listed no more. */
async function verifyReferrers(url: string, storm: Storm, everyRevisionKept: boolean): Promise<number> {
  let verified = 0;
  for (const entry of storm.referrers) {
    const listed = await referrersOf(url, entry.name, entry.subject);
    if (entry.revoked) {
      assert.ok(!listed.has(entry.doc.digest), `revoked ${entry.doc.digest} is not listed under ${entry.subject}`);
      continue;
    }
    if (!subjectKept(entry, everyRevisionKept)) continue;
    assert.equal(
      listed.get(entry.doc.digest),
      entry.artifactType,
      `${entry.name}: referrer ${entry.doc.digest} is listed under its subject ${entry.subject}`,
    );
    await pullVerified(url, entry.name, entry.doc.digest).catch((error: unknown) => {
      throw new Error(`referrer ${entry.name}@${entry.doc.digest} does not pull: ${(error as Error).message}`);
    });
    verified++;
  }
  return verified;
}

/** With every revision kept, every index not deleted pulls by digest (its children with it). */
async function verifyIndexes(url: string, storm: Storm): Promise<number> {
  let verified = 0;
  for (const entry of storm.indexes) {
    if (entry.deleted) continue;
    const pulled = await pullVerified(url, entry.name, entry.doc.digest).catch((error: unknown) => {
      throw new Error(`index ${entry.name}@${entry.doc.digest} does not pull: ${(error as Error).message}`);
    });
    assert.deepEqual([...pulled].sort(), [...closureOf(entry)].sort());
    verified++;
  }
  return verified;
}

/** What the tags reach, with the referrers of every manifest reached (and theirs), as served. */
async function reachable(url: string, storm: Storm): Promise<Set<string>> {
  const reached = new Set<string>();
  const manifests: Array<[string, string]> = [];
  for (const [key, digest] of storm.tags) {
    const [name] = key.split(':') as [string];
    const entry = storm.indexes.find((index) => index.name === name && index.doc.digest === digest)!;
    await pullVerified(url, name, digest, reached);
    manifests.push([name, entry.doc.digest], ...entry.children.map((child): [string, string] => [name, child.digest]));
  }
  while (manifests.length > 0) {
    const [name, subject] = manifests.pop()!;
    for (const referrer of (await referrersOf(url, name, subject)).keys()) {
      if (reached.has(referrer)) continue;
      await pullVerified(url, name, referrer, reached);
      manifests.push([name, referrer]);
    }
  }
  return reached;
}

/** Revision links left in the repositories' folders: `name@digest`. */
function revisionLinks(root: string): string[] {
  const links: string[] = [];
  for (const name of REPOSITORIES) {
    const folder = join(root, V2, 'repositories', name, '_manifests', 'revisions', 'sha256');
    let hexes: string[] = [];
    try {
      hexes = readdirSync(folder);
    } catch {
      continue;
    }
    for (const hex of hexes) links.push(`${name}@sha256:${hex}`);
  }
  return links;
}

describe('online garbage collection while clients push multi-arch images and referrers', () => {
  const phases = [
    { title: 'no grace period, every revision kept', query: () => '', everyRevisionKept: true },
    {
      title: 'no grace period, untagged manifests removed every other round',
      query: (round: number) => (round % 2 === 1 ? 'deleteuntagged=true' : ''),
      everyRevisionKept: false,
    },
  ];
  for (const phase of phases) {
    describe(phase.title, () => {
      let server: TestBerth;
      before(async () => (server = await startBerth({ config: { berth: { gc: { graceperiod: '0s' } } } })));
      after(() => server.close());

      it('keeps every tagged index whole and every referrer of a kept subject, and sweeps the rest', async () => {
        const storm = new Storm(server.url);
        for (const name of REPOSITORIES) await storm.pinOne(name);
        await storm.run(phase.query);
        storm.record(await adminGc(server.url, phase.query(1))); // one more after the storm

        const tags = await verifyTags(server.url, storm);
        const verifiedIndexes = phase.everyRevisionKept ? await verifyIndexes(server.url, storm) : 0;
        const verifiedReferrers = await verifyReferrers(server.url, storm, phase.everyRevisionKept);

        // What was deleted, revoked or left untagged is swept by a run that removes untagged manifests.
        const final = await adminGc(server.url, 'deleteuntagged=true');
        const expected = await reachable(server.url, storm);
        const stored = new Set(storedBlobs(server.root).keys());
        const extra = [...stored].filter((digest) => !expected.has(digest));
        const lost = [...expected].filter((digest) => !stored.has(digest));
        assert.deepEqual({ extra, lost }, { extra: [], lost: [] }, 'storage holds exactly what the tags reach');
        for (const link of revisionLinks(server.root)) {
          assert.ok(expected.has(link.split('@')[1]!), `revision link ${link} is of a manifest the tags reach`);
        }
        for (const entry of storm.indexes.filter((index) => index.deleted)) {
          assert.ok(!stored.has(entry.doc.digest), `deleted index ${entry.doc.digest} was swept`);
        }
        for (const entry of storm.referrers.filter((referrer) => referrer.revoked)) {
          assert.ok(!stored.has(entry.doc.digest), `revoked referrer ${entry.doc.digest} was swept`);
        }
        const again = await adminGc(server.url, 'deleteuntagged=true');
        assert.deepEqual(
          { blobs: again.blobsEligible, manifests: again.manifestsEligible },
          { blobs: 0, manifests: 0 },
          'a further run finds nothing to delete',
        );
        // And the sweep after the storm took nothing the tags still need.
        await verifyTags(server.url, storm);
        const pinnedReferrers = await verifyReferrers(server.url, storm, false);

        console.log(
          `gc multi-arch and referrers (${phase.title}): ${JSON.stringify({
            ...storm.figures,
            tags,
            verifiedIndexes,
            verifiedReferrers,
            pinnedReferrers,
            finalSweep: { blobsDeleted: final.blobsDeleted, manifestsDeleted: final.manifestsDeleted },
            stored: stored.size,
          })}`,
        );
        assert.ok(storm.figures.rounds >= BOUNDS.minRounds, `at least ${BOUNDS.minRounds} rounds ran`);
        assert.ok(
          storm.figures.pushes >= BOUNDS.minPushes,
          `enough pushes to mean something (${storm.figures.pushes})`,
        );
        assert.ok(storm.figures.blobsDeleted > 0, 'the rounds really swept');
        assert.ok(tags > 0 && verifiedReferrers > 0, 'tags and referrers were checked');
      });
    });
  }
});

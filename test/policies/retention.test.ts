/**
 * Retention on a fixture with controlled push times (link modification times) and pull times
 * (a recorded pull file, and a real pull kept in memory): the dry run's decisions equal the
 * expected table and change nothing; the real run, through the online garbage collection,
 * deletes exactly those manifests and frees exactly their bytes; kept images pull back
 * byte-identical (also through skopeo), and Distribution's docker-registry serves the folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { GcReport } from '../../src/registry/gc/collector.js';
import type { RetentionReport } from '../../src/registry/policies/retention.js';
import { berthCli, expectCode } from '../helpers/cli.js';
import { pushImage, randomBlob, type Image } from '../helpers/content.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import { V2 } from '../helpers/files.js';
import { imageDoc, type Doc } from '../helpers/manifests.js';
import { assertLayoutCopy, skopeo } from '../helpers/skopeo.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import {
  adminGc,
  ageStorage,
  imageOf,
  pullVerified,
  pushIndex,
  pushReferrer,
  SIGNATURE,
  snapshot,
  storedBlobs,
  waitFor,
} from '../gc/support.js';
import { setPushed, setRevisionPushed, writeConfig } from './support.js';

const DAY = 86_400_000;
const REPO = 'apps/web';
const RETENTION = {
  policies: [
    {
      repositories: 'apps/**',
      keep: { last: 2, tags: ['release-*'], pulledwithin: '7d' },
      untagged: '3d',
    },
  ],
};
const P = 'berth.retention.policies[0]';

/** Digests (with sizes) a manifest needs besides its children: itself, its config, its layers. */
function contentOf(bytes: Buffer, digest: string): Map<string, number> {
  const body = JSON.parse(bytes.toString()) as {
    config?: { digest: string; size: number };
    layers?: Array<{ digest: string; size: number }>;
  };
  const content = new Map([[digest, bytes.length]]);
  for (const entry of [...(body.config ? [body.config] : []), ...(body.layers ?? [])])
    content.set(entry.digest, entry.size);
  return content;
}

describeWithTools('retention', [tools.skopeo(), tools.distribution()], () => {
  const folders = tempFolders();
  let server: TestBerth;
  let config: string;
  const docs = new Map<string, Doc>();
  /** label → [action, rule] */
  const expected = new Map<string, [string, string]>();
  const digestLabel = new Map<string, string>();
  let layout: OciLayout;
  let hook: Server;
  const events: Array<{ action: string; target: Record<string, string> }> = [];

  const at = (days: number) => new Date(Date.now() - days * DAY);

  before(async () => {
    // Delete events go to this endpoint (pushes and pulls are left out).
    hook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const envelope = JSON.parse(body) as { events: Array<{ action: string; target: Record<string, string> }> };
        events.push(...envelope.events);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`;
    server = await startBerth({
      root: folders.make('berth-retention-'),
      config: {
        berth: { retention: RETENTION, gc: { graceperiod: '0s' } },
        notifications: {
          endpoints: [{ name: 'sink', url: hookUrl, ignore: { actions: ['push', 'pull', 'mount'] } }],
        },
      },
    });
    config = writeConfig(folders.make('berth-retention-config-'), server.root, { retention: RETENTION });
    const url = server.url;
    const image = (label: string): Image => {
      const built = imageOf([randomBlob(2_000 + docs.size * 100)]);
      docs.set(label, imageDoc(built));
      digestLabel.set(built.digest, label);
      return built;
    };
    const tagged = async (label: string, tags: string[]) => {
      const built = image(label);
      for (const tag of tags) await pushImage(url, REPO, tag, built);
    };
    await tagged('A', ['t1']);
    await tagged('B', ['t2']);
    await tagged('B2', ['t5']);
    await tagged('C', ['release-1']);
    await tagged('D', ['t3']);
    await tagged('F', ['old-a', 'old-b']);
    await tagged('H', ['h-old', 'release-2']);
    const children = [imageOf([randomBlob(1_500)], 'amd64'), imageOf([randomBlob(1_600)], 'arm64')];
    const index = await pushIndex(url, REPO, 't4', children);
    docs.set('E', index);
    for (const [n, child] of children.entries()) {
      docs.set(`E${n + 1}`, imageDoc(child));
      digestLabel.set(child.digest, `E${n + 1}`);
    }
    digestLabel.set(index.digest, 'E');
    const signature = await pushReferrer(url, REPO, docs.get('D')!, SIGNATURE);
    const orphan = await pushReferrer(url, REPO, docs.get('A')!, SIGNATURE);
    for (const [label, referrer] of [
      ['S', signature],
      ['R', orphan],
    ] as const) {
      docs.set(label, referrer);
      digestLabel.set(referrer.digest, label);
    }
    for (const label of ['U', 'V']) {
      const built = image(label);
      await pushImage(url, REPO, built.digest, built);
    }
    await pushImage(url, 'other/thing', 'x', imageOf([randomBlob(900)]));
    // One image built as a real OCI layout and pushed by skopeo, to pull back with skopeo.
    layout = await OciLayout.create(folders.make('berth-retention-layout-'));
    const built = await layout.writeImage({ label: 'kept by skopeo' });
    await layout.tag(built.manifest, 'release-3');
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:release-3`,
      `docker://${server.host}/${REPO}:release-3`,
    ]);
    const bytes = readFileSync(layout.blobPath(built.manifest.digest));
    docs.set('K', { bytes, digest: built.manifest.digest, mediaType: built.manifest.mediaType });
    digestLabel.set(built.manifest.digest, 'K');

    // Push times: everything 100 days old, then each manifest and tag as the table says.
    ageStorage(server.root, 100 * DAY);
    const pushed: Record<string, [string[], number]> = {
      A: [['t1'], 30],
      B: [['t2'], 20],
      B2: [['t5'], 21],
      C: [['release-1'], 40],
      D: [['t3'], 10],
      E: [['t4'], 1],
      E1: [[], 30],
      E2: [[], 30],
      F: [['old-a', 'old-b'], 50],
      H: [['h-old', 'release-2'], 50],
      S: [[], 10],
      R: [[], 30],
      U: [[], 1],
      V: [[], 10],
      K: [['release-3'], 100],
    };
    for (const [label, [tags, days]] of Object.entries(pushed)) {
      setRevisionPushed(server.root, REPO, docs.get(label)!.digest, at(days));
      for (const tag of tags) setPushed(server.root, REPO, tag, at(days));
    }
    // Pull times: B2 was last pulled 10 days ago (recorded earlier); B is pulled now.
    const pulls = join(server.root, V2, '_berth', 'policies', 'pulls', REPO);
    mkdirSync(pulls, { recursive: true });
    writeFileSync(join(pulls, '_pulled'), JSON.stringify({ [docs.get('B2')!.digest]: at(10).getTime() }));
    await pullVerified(url, REPO, 't2');

    for (const [label, action, rule] of [
      ['A', 'delete', `${P}.keep`],
      ['B', 'keep', `${P}.keep.pulledwithin`],
      ['B2', 'delete', `${P}.keep`],
      ['C', 'keep', `${P}.keep.tags`],
      ['D', 'keep', `${P}.keep.last`],
      ['E', 'keep', `${P}.keep.last`],
      ['E1', 'keep', P],
      ['E2', 'keep', P],
      ['F', 'delete', `${P}.keep`],
      ['H', 'keep', `${P}.keep.tags`],
      ['S', 'keep', P],
      ['R', 'delete', `${P}.untagged`],
      ['U', 'keep', `${P}.untagged`],
      ['V', 'delete', `${P}.untagged`],
      ['K', 'keep', `${P}.keep.tags`],
    ] as const)
      expected.set(label, [action, rule]);
  });

  after(async () => {
    await server?.close();
    hook?.close();
    await folders.removeAll();
  });

  it('a dry run lists every decision with its rule, as the table expects, and changes nothing', async () => {
    // The server writes pull times every berth.pulls.flushinterval; the offline command reads them.
    await server.berth.registry.pulls.flush();
    // Berth's own folders (pull times, the notification outbox, temporary files) may change.
    const registryFiles = () =>
      snapshot(server.root).filter((line) => !line.includes('/_berth/') && !line.startsWith('.berth-tmp/'));
    const before = registryFiles();
    const result = expectCode(await berthCli(['retention', config, '--dry-run', '--json']), 0, 'retention --dry-run');
    const report = result.json() as RetentionReport;
    const table = new Map(
      report.decisions.map((decision) => [digestLabel.get(decision.digest)!, [decision.action, decision.rule]]),
    );
    assert.deepEqual(table, expected);
    assert.equal(report.repositories, 1, 'other/thing matches no policy');
    const byLabel = (label: string) => report.decisions.find((entry) => entry.digest === docs.get(label)!.digest)!;
    assert.equal(byLabel('D').reason, 'tag t3 is among the 2 most recently pushed');
    assert.equal(byLabel('E1').reason, `needed by kept ${docs.get('E')!.digest} (an index child)`);
    assert.equal(byLabel('S').reason, `needed by kept ${docs.get('D')!.digest} (a referrer)`);
    assert.deepEqual(byLabel('F').tags, ['old-a', 'old-b']);
    assert.equal(byLabel('F').reason, 'no keep rule keeps tags old-a, old-b');
    assert.deepEqual(byLabel('H').tags, ['h-old', 'release-2']);
    assert.equal(byLabel('B').reason, 'tag t2 was pulled within 7d');
    assert.deepEqual(registryFiles(), before);

    const text = expectCode(await berthCli(['retention', config, '--dry-run']), 0, 'retention --dry-run').stdout;
    assert.match(
      text,
      new RegExp(
        `^delete ${REPO}@${docs.get('A')!.digest} \\(t1\\): no keep rule keeps tag t1 \\[${P.replace(/[[\]]/g, '\\$&')}\\.keep\\]$`,
        'm',
      ),
    );
    assert.match(text, /^1 repositories: 10 manifests kept, 5 would be deleted$/m);
  });

  it('a real run with the online collection deletes those manifests and frees exactly their bytes', async () => {
    const deleted = [...expected].filter(([, [action]]) => action === 'delete').map(([label]) => label);
    const kept = [...expected].filter(([, [action]]) => action === 'keep').map(([label]) => label);
    const needed = (labels: string[]) => {
      const all = new Map<string, number>();
      for (const label of labels) {
        const doc = docs.get(label)!;
        for (const [digest, size] of contentOf(doc.bytes, doc.digest)) all.set(digest, size);
      }
      return all;
    };
    const keptContent = needed(kept);
    const other = storedBlobs(server.root);
    const freed = [...needed(deleted)].filter(([digest]) => !keptContent.has(digest));
    // Blobs of other/thing stay too.
    const expectedBytes = freed.reduce((total, [, size]) => total + size, 0);

    const report: GcReport = await adminGc(server.url);
    assert.equal(report.retention?.deleted, deleted.length);
    assert.equal(report.retention?.dryRun, false);
    assert.equal(report.bytesFreed, expectedBytes);
    assert.equal(report.blobsDeleted, freed.length);
    const after = storedBlobs(server.root);
    for (const [digest] of freed) assert.ok(!after.has(digest), `${digestLabel.get(digest) ?? digest} freed`);
    assert.equal(after.size, other.size - freed.length);

    const tags = (await (await fetch(`${server.url}/v2/${REPO}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ['h-old', 'release-1', 'release-2', 'release-3', 't2', 't3', 't4']);
    for (const label of deleted) {
      const response = await fetch(`${server.url}/v2/${REPO}/manifests/${docs.get(label)!.digest}`);
      assert.equal(response.status, 404, `${label} is gone`);
    }
    // Kept images pull with every digest verified, from Berth and from Distribution.
    for (const tag of tags.tags) await pullVerified(server.url, REPO, tag);
    for (const label of ['S', 'U', 'E1']) await pullVerified(server.url, REPO, docs.get(label)!.digest);
    await pullVerified(server.url, 'other/thing', 'x');
    const distribution = await startDockerRegistry({ root: server.root });
    try {
      for (const tag of tags.tags) await pullVerified(distribution.url, REPO, tag);
      await pullVerified(distribution.url, 'other/thing', 'x');
    } finally {
      await distribution.close();
    }
    // One delete event per deleted manifest, as Distribution sends for a manifest DELETE.
    await waitFor(() => events.length >= deleted.length, 'delete events');
    assert.deepEqual(
      events.map((event) => [event.action, event.target.repository, digestLabel.get(event.target.digest!)]).sort(),
      deleted.map((label) => ['delete', REPO, label]).sort(),
    );
    // A second run finds nothing more to delete.
    const again = expectCode(await berthCli(['retention', config, '--json']), 0, 'retention').json() as RetentionReport;
    assert.equal(again.deleted, 0, JSON.stringify(again.decisions.filter((entry) => entry.action === 'delete')));
  });

  it('kept images pull byte-identical through skopeo', async () => {
    const out = folders.make('berth-retention-pull-');
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${server.host}/${REPO}:release-3`,
      `oci:${out}:release-3`,
    ]);
    await assertLayoutCopy(layout.dir, out, ['release-3']);
  });
});

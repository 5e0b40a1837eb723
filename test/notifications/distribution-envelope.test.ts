/**
 * Berth's notifications against Distribution's own (Debian's docker-registry 2.8), same
 * `notifications` configuration, same skopeo push, pull and delete of one image (and a mount of
 * its config blob between them): the same
 * requests to the receiver (method, content type, configured headers), the same events (action,
 * target field for field, request method and user agent, actor), the same keys in the same order.
 * Only what differs by nature is set aside: ids, times, ports and the instance.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { startReceiver, type Json, type Receiver } from '../helpers/receiver.js';
import { pullToLayout, pushLayout, skopeo } from '../helpers/skopeo.js';
import { describeWithTools, tools } from '../helpers/tools.js';

function notifications(receiver: Receiver): Json {
  return {
    events: { includereferences: true },
    endpoints: [
      {
        name: 'listener',
        url: receiver.url,
        headers: { 'X-Listener-Token': ['secret-token'] },
        timeout: '2s',
        threshold: 3,
        backoff: '100ms',
      },
    ],
  };
}

/** Key order at every level: Distribution's JSON encoder writes struct fields in a fixed order. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).map(([key, inner]) => [key, shape(inner)]);
  }
  return typeof value;
}

/** An event with what differs by nature (ids, times, ports, instance) replaced by its form. */
function comparable(event: Json, registryHost: string): Json {
  const copy = structuredClone(event);
  assert.match(copy.id, /^[0-9a-f-]{36}$/);
  assert.match(copy.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  assert.match(copy.request.id, /^[0-9a-f-]{36}$/);
  assert.match(copy.request.addr, /^127\.0\.0\.1:\d+$/);
  assert.equal(copy.request.host, registryHost);
  assert.match(copy.source.addr, /^[^:]+:\d+$/);
  assert.match(copy.source.instanceID, /^[0-9a-f-]{36}$/);
  copy.id = copy.timestamp = copy.request.id = copy.request.addr = copy.request.host = '…';
  copy.source = { addr: copy.source.addr.split(':')[0], instanceID: '…' };
  if (copy.target.url) copy.target.url = copy.target.url.replace(`http://${registryHost}`, 'http://REGISTRY');
  return copy;
}

function sortKey(event: Json): string {
  return `${event.action} ${event.request.method} ${event.target.digest ?? ''} ${event.target.tag ?? ''}`;
}

describeWithTools('notifications as Distribution sends them', [tools.skopeo(), tools.distribution()], () => {
  const folders = tempFolders();
  let layout: OciLayout;
  let distribution: TestDockerRegistry;
  let distributionReceiver: Receiver;
  let berth: TestBerth;
  let berthReceiver: Receiver;
  const phases = ['push', 'pull', 'mount', 'delete'] as const;
  let configDigest = '';
  const seen: Record<'distribution' | 'berth', Record<string, { events: Json[]; headers: Json[] }>> = {
    distribution: {},
    berth: {},
  };

  /** Runs the same skopeo steps against a registry, keeping what its receiver got after each. */
  async function exercise(which: 'distribution' | 'berth', host: string, receiver: Receiver): Promise<void> {
    const steps: Record<(typeof phases)[number], { run: () => Promise<unknown>; expected: number }> = {
      // two blobs and the manifest
      push: { run: () => pushLayout(layout.dir, 'one', `${host}/hooks/app:one`), expected: 3 },
      // the manifest and both blobs
      pull: { run: () => pullToLayout(`${host}/hooks/app:one`, folders.make('notify-out-'), 'one'), expected: 3 },
      // the config blob mounted into another repository
      mount: {
        run: async () => {
          const url = `http://${host}/v2/hooks/other/blobs/uploads/?mount=${configDigest}&from=hooks/app`;
          const response = await fetch(url, { method: 'POST', headers: { 'User-Agent': 'skopeo/1.9.3' } });
          assert.equal(response.status, 201);
        },
        expected: 1,
      },
      // skopeo reads the manifest, then deletes it by digest: the manifest and its tag go
      delete: { run: () => skopeo(['delete', '--tls-verify=false', `docker://${host}/hooks/app:one`]), expected: 3 },
    };
    for (const phase of phases) {
      const before = receiver.deliveries.length;
      await steps[phase].run();
      await receiver.waitFor(
        (current) => current.deliveries.length >= before + steps[phase].expected,
        `${which}: ${phase} events`,
      );
      // Anything more would arrive within moments.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const deliveries = receiver.deliveries.slice(before);
      seen[which][phase] = {
        events: deliveries.flatMap((delivery) => JSON.parse(delivery.body).events as Json[]),
        headers: deliveries.map((delivery) => ({
          contentType: delivery.headers['content-type'],
          token: delivery.headers['x-listener-token'],
        })),
      };
    }
  }

  before(async () => {
    layout = await OciLayout.create(folders.make('notify-layout-'));
    const image = await layout.writeImage({ label: 'notify' });
    configDigest = image.config.digest;
    await layout.tag(image.manifest, 'one');
    distributionReceiver = await startReceiver();
    distribution = await startDockerRegistry({ config: { notifications: notifications(distributionReceiver) } });
    await exercise('distribution', distribution.host, distributionReceiver);
    berthReceiver = await startReceiver();
    berth = await startBerth({ config: { notifications: notifications(berthReceiver) } });
    await exercise('berth', berth.host, berthReceiver);
  });

  after(async () => {
    await berth?.close();
    await distribution?.close();
    await berthReceiver?.stop();
    await distributionReceiver?.stop();
    await folders.removeAll();
  });

  for (const phase of phases) {
    it(`sends the same events as Distribution for the ${phase}`, () => {
      const theirs = seen.distribution[phase]!;
      const ours = seen.berth[phase]!;
      assert.ok(theirs.events.length > 0, `Distribution sent no ${phase} events`);
      const expected = theirs.events
        .map((event) => comparable(event, distribution.host))
        .sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
      const actual = ours.events
        .map((event) => comparable(event, berth.host))
        .sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
      assert.deepEqual(actual, expected);
      assert.deepEqual(actual.map(shape), expected.map(shape), 'fields in the same order');
      assert.deepEqual(ours.headers, theirs.headers);
    });
  }

  it('gives every event its own id', () => {
    const ids = Object.values(seen.berth).flatMap((phase) => phase.events.map((event) => event.id));
    assert.equal(new Set(ids).size, ids.length);
  });
});

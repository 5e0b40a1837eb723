/**
 * Delivery per endpoint, against real receivers on loopback: signed bodies the receiver checks
 * with its own HMAC (a tampered body fails), the v2 content type, CloudEvents 1.0 in structured
 * mode, filters by repository, action and media type, a hanging endpoint that holds up neither
 * the client nor the other endpoint, and 1,000 pushes giving 1,000 push events.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { HTTP } from 'cloudevents';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { waitFor } from '../helpers/wait.js';
import { jsonBlob, makeImage, pushBlob, pushImage, pushManifest } from '../helpers/content.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const started: Array<{ close(): Promise<void> } | Receiver> = [];
after(async () => {
  for (const thing of started.reverse()) await ('stop' in thing ? thing.stop() : thing.close());
});

async function receiver(): Promise<Receiver> {
  const made = await startReceiver();
  started.push(made);
  return made;
}

async function berthWith(notifications: Record<string, unknown>): Promise<TestBerth> {
  const berth = await startBerth({ config: { notifications } });
  started.push(berth);
  return berth;
}

/** The check a receiver runs (docs/notifications.md#signatures). */
function verify(secret: string, header: string | undefined, body: string, toleranceSeconds = 300): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const [, timestamp, received] = match;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(received!, 'hex'));
}

/**
 * Waits until every endpoint has delivered what this instance recorded for it: nothing is left
 * to send, so what the receivers hold is all they will get.
 */
async function allDelivered(server: TestBerth): Promise<void> {
  const stats = () => server.berth.notifier.stats();
  await waitFor(
    () => stats().every((endpoint) => endpoint.delivered >= endpoint.recorded),
    'every recorded event delivered',
  );
  for (const endpoint of stats())
    assert.equal(endpoint.delivered, endpoint.recorded, `${endpoint.endpoint}: each once`);
}
describe('signed deliveries', () => {
  it('carry an HMAC-SHA256 of timestamp and body that the receiver verifies; a changed body fails', async () => {
    const hook = await receiver();
    const secret = 'a shared secret';
    const berth = await berthWith({ endpoints: [{ name: 'signed', url: hook.url, secret }] });
    await pushBlob(berth.url, 'signed/repo', jsonBlob({ signed: true }));
    await hook.waitFor((current) => current.deliveries.length >= 1, 'a signed delivery');
    const [delivery] = hook.deliveries;
    const header = delivery!.headers['berth-signature'] as string | undefined;
    assert.ok(verify(secret, header, delivery!.body), `signature verifies: ${header}`);
    assert.equal(verify(secret, header, delivery!.body.replace('signed/repo', 'signed/other')), false);
    assert.equal(verify('another secret', header, delivery!.body), false);
    const stale = header!.replace(/^t=\d+/, `t=${Math.floor(Date.now() / 1000) - 3600}`);
    assert.equal(verify(secret, stale, delivery!.body), false, 'the timestamp is signed too');
  });

  it('are unsigned without a secret', async () => {
    const hook = await receiver();
    const berth = await berthWith({ endpoints: [{ name: 'plain', url: hook.url }] });
    await pushBlob(berth.url, 'plain/repo', jsonBlob({ plain: true }));
    await hook.waitFor((current) => current.deliveries.length >= 1, 'a delivery');
    assert.equal(hook.deliveries[0]!.headers['berth-signature'], undefined);
  });
});

describe('formats', () => {
  it('v2 sends the same envelope with the events.v2+json content type', async () => {
    const hook = await receiver();
    const berth = await berthWith({ endpoints: [{ name: 'three', url: hook.url, format: 'v2' }] });
    const blob = jsonBlob({ format: 'v2' });
    await pushBlob(berth.url, 'formats/v2', blob);
    await hook.waitFor((current) => current.deliveries.length >= 1, 'a v2 delivery');
    assert.equal(hook.deliveries[0]!.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
    const [event] = hook.events();
    assert.equal(event!.action, 'push');
    assert.equal(event!.target.digest, blob.digest);
  });

  it('cloudevents sends one CloudEvents 1.0 event in structured JSON mode, the Distribution event as data', async () => {
    const hook = await receiver();
    const berth = await berthWith({
      events: { includereferences: true },
      endpoints: [
        { name: 'ce', url: hook.url, format: 'cloudevents', ignore: { mediatypes: ['application/octet-stream'] } },
      ],
    });
    const image = makeImage({ layers: 1 });
    await pushImage(berth.url, 'formats/ce', 'latest', image);
    await hook.waitFor((current) => current.deliveries.length >= 1, 'a CloudEvents delivery');
    const [delivery] = hook.deliveries;
    assert.match(String(delivery!.headers['content-type']), /^application\/cloudevents\+json/);
    const event = HTTP.toEvent({ headers: delivery!.headers, body: delivery!.body });
    const parsed = Array.isArray(event) ? event[0]! : event;
    assert.equal(parsed.specversion, '1.0');
    assert.equal(parsed.type, 'distribution.event.push');
    assert.equal(parsed.subject, 'formats/ce:latest');
    const data = parsed.data as Record<string, any>;
    assert.equal(parsed.id, data.id);
    assert.equal(data.target.digest, image.digest);
    assert.equal(data.target.tag, 'latest');
    assert.equal(data.target.references.length, 2);
  });
});

describe('filters', () => {
  it('by repository pattern, action and media type, each endpoint on its own', async () => {
    const team = await receiver();
    const pushesOnly = await receiver();
    const berth = await berthWith({
      endpoints: [
        { name: 'team', url: team.url, repositories: ['team/**'], ignore: { repositories: ['team/private'] } },
        {
          name: 'manifest-pushes',
          url: pushesOnly.url,
          ignore: { actions: ['pull', 'delete', 'mount'] },
          ignoredmediatypes: ['application/octet-stream'],
        },
      ],
    });
    const image = makeImage({ layers: 1 });
    await pushImage(berth.url, 'team/app', 'v1', image);
    await pushImage(berth.url, 'team/private', 'v1', image);
    await pushImage(berth.url, 'other/app', 'v1', image);
    assert.equal(
      (await fetch(`${berth.url}/v2/other/app/manifests/v1`, { headers: { Accept: image.mediaType } })).status,
      200,
    );
    assert.equal(
      (await fetch(`${berth.url}/v2/team/app/manifests/v1`, { headers: { Accept: image.mediaType } })).status,
      200,
    );
    // team/app: three pushes and a pull; the others are not the team endpoint's.
    await team.waitFor((current) => current.events().length >= 4, 'team events');
    await pushesOnly.waitFor((current) => current.events().length >= 3, 'manifest pushes');
    await allDelivered(berth);
    assert.deepEqual(
      team.events().map((event) => `${event.action} ${event.target.repository}`),
      ['push team/app', 'push team/app', 'push team/app', 'pull team/app'],
    );
    assert.deepEqual(
      pushesOnly.events().map((event) => `${event.action} ${event.target.repository} ${event.target.tag}`),
      ['push team/app v1', 'push team/private v1', 'push other/app v1'],
    );
  });
});

describe('a hanging endpoint', () => {
  it('holds up neither the client nor another endpoint', async () => {
    const answers: ServerResponse[] = [];
    let requests = 0;
    const hanging: Server = createServer((_request: IncomingMessage, response: ServerResponse) => {
      requests += 1;
      answers.push(response); // never answered while the test runs
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', () => resolve()));
    started.push({
      close: async () => {
        for (const response of answers) response.destroy();
        hanging.closeAllConnections();
        await new Promise<void>((resolve) => hanging.close(() => resolve()));
      },
    });
    const healthy = await receiver();
    const port = (hanging.address() as { port: number }).port;
    const berth = await berthWith({
      endpoints: [
        { name: 'hanging', url: `http://127.0.0.1:${port}/hook`, timeout: '60s' },
        { name: 'healthy', url: healthy.url },
      ],
    });
    const image = makeImage({ layers: 1 });
    await pushImage(berth.url, 'isolated/app', 'v1', image);
    await healthy.waitFor((current) => current.events().length >= 3, 'the healthy endpoint gets every event');
    // A delivery is counted once its answer is read, just after the receiver has the event.
    await waitFor(() => berth.berth.notifier.stats()[1]!.delivered >= 3, 'the healthy answers counted');
    // Meanwhile the hanging endpoint has its first event in flight and nothing answered.
    await waitFor(() => requests >= 1, 'the hanging endpoint gets its first event');
    assert.equal(requests, 1);
    const [hangingStats, healthyStats] = berth.berth.notifier.stats();
    assert.equal(hangingStats!.delivered, 0);
    assert.equal(healthyStats!.delivered, 3);
  });
});

describe('1,000 pushes', () => {
  it('give 1,000 push events, each once', async () => {
    const hook = await receiver();
    const berth = await berthWith({
      endpoints: [{ name: 'bulk', url: hook.url, ignore: { mediatypes: ['application/octet-stream'] } }],
    });
    const image = makeImage({ layers: 1 });
    await pushImage(berth.url, 'bulk/app', 'base', image);
    const total = 1000;
    const tags = Array.from({ length: total - 1 }, (_, index) => `t${index}`);
    const concurrency = 16;
    for (let start = 0; start < tags.length; start += concurrency) {
      const batch = tags.slice(start, start + concurrency);
      const responses = await Promise.all(
        batch.map((tag) => pushManifest(berth.url, 'bulk/app', tag, image.manifest, image.mediaType)),
      );
      for (const response of responses) assert.equal(response.status, 201);
    }
    // A bound against hangs: on a quiet machine this takes seconds.
    await hook.waitFor((current) => current.events().length >= total, '1,000 push events', 180_000);
    await allDelivered(berth);
    const events = hook.events();
    assert.equal(events.length, total);
    assert.equal(new Set(events.map((event) => event.id)).size, total, 'no event twice');
    assert.deepEqual(new Set(events.map((event) => event.target.tag)), new Set(['base', ...tags]));
    assert.ok(events.every((event) => event.action === 'push' && event.target.digest === image.digest));
    assert.equal(berth.berth.notifier.stats()[0]!.delivered, total);
  });
});

/**
 * No acknowledged event is lost: with the receiver down, images are pushed to `berth serve`, the
 * process is killed with SIGKILL, started again over the same storage, and the receiver comes
 * back. Every push the client got a 201 for arrives, with exactly the ids the outbox held before
 * the kill, each once, and per repository in the order the pushes happened.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { tempFolders } from '../helpers/berth.js';
import { serveBerth, waitForExit } from '../helpers/berth-process.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { startReceiver, type Json } from '../helpers/receiver.js';
import { freePort } from '../helpers/tools.js';

const folders = tempFolders();
after(() => folders.removeAll());

const REPOSITORIES = ['durable/alpha', 'durable/beta', 'durable/gamma'];
const PUSHES_PER_REPOSITORY = 4;

/** Event ids in the outbox folder of one endpoint, read straight from disk. */
function outboxIds(root: string, endpoint: string): string[] {
  const folder = join(root, 'docker/registry/v2/_berth/events', endpoint, 'pending');
  return readdirSync(folder)
    .filter((name) => name.endsWith('.json'))
    .map((name) => (JSON.parse(readFileSync(join(folder, name), 'utf8')) as { event: Json }).event.id as string);
}

describe('notifications survive kill -9 and a receiver outage', () => {
  it('delivers every acknowledged push after a restart, exactly the ids recorded, in per-repository order', async () => {
    const receiver = await startReceiver();
    await receiver.stop(); // down from the start
    const root = folders.make('notify-durable-');
    const file = join(root, 'config.yml');
    const port = await freePort();
    writeFileSync(
      file,
      stringify({
        version: 0.1,
        log: { level: 'info', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: join(root, 'data') }, delete: { enabled: true } },
        http: { addr: `127.0.0.1:${port}` },
        notifications: {
          endpoints: [
            { name: 'hook', url: receiver.url, timeout: '1s', threshold: 2, backoff: '50ms', maxbackoff: '200ms' },
          ],
        },
      }),
    );
    let berth = await serveBerth({ args: ['serve', file] });
    // Pushed round-robin, so the repositories' events interleave in the outbox.
    const pushed = new Map<string, string[]>(REPOSITORIES.map((name) => [name, []]));
    for (let round = 0; round < PUSHES_PER_REPOSITORY; round++) {
      for (const name of REPOSITORIES) {
        const image = makeImage({ layers: 1, extra: { annotations: { round: String(round) } } });
        const response = await pushImage(berth.url, name, `v${round}`, image);
        assert.equal(response.status, 201);
        pushed.get(name)!.push(image.digest);
      }
    }
    const recorded = outboxIds(join(root, 'data'), 'hook');
    // Per push: config blob, layer blob, manifest.
    assert.equal(recorded.length, REPOSITORIES.length * PUSHES_PER_REPOSITORY * 3);
    berth.kill('SIGKILL');
    assert.equal((await waitForExit(berth)).signal, 'SIGKILL');

    berth = await serveBerth({ args: ['serve', file] });
    try {
      await receiver.start();
      await receiver.waitFor((current) => current.events().length >= recorded.length, 'every recorded event');
      // Anything delivered twice would arrive within moments.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const events = receiver.events();
      const ids = events.map((event) => event.id as string);
      assert.equal(ids.length, recorded.length, 'each event once');
      assert.deepEqual([...ids].sort(), [...recorded].sort(), 'exactly the ids recorded before the kill');
      for (const name of REPOSITORIES) {
        const ofRepository = events.filter((event) => event.target.repository === name);
        const manifests = ofRepository
          .filter((event) => event.action === 'push' && event.target.mediaType !== 'application/octet-stream')
          .map((event) => event.target.digest as string);
        assert.deepEqual(manifests, pushed.get(name), `${name}: every acknowledged manifest push, in order`);
        const times = ofRepository.map((event) => Date.parse(event.timestamp as string));
        assert.deepEqual(
          times,
          [...times].sort((a, b) => a - b),
          `${name}: events in the order they happened`,
        );
      }
      assert.equal(outboxIds(join(root, 'data'), 'hook').length, 0, 'the outbox is empty once delivered');
    } finally {
      berth.kill('SIGTERM');
      await waitForExit(berth);
      await receiver.stop();
    }
  });
});

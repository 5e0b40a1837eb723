/**
 * Retries end: an endpoint that keeps failing gets each event until `maxage`, then the event is a
 * dead letter; beyond `maxdead` the oldest are dropped and counted. `berth events list` shows
 * pending and dead events from the storage, `berth events replay` queues dead ones again, and
 * the running Berth delivers them with their original ids.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startBerth, tempFolders } from '../helpers/berth.js';
import { registerEvents } from '../../src/cli/commands/events.js';
import { berthCli, berthInProcess, expectCode } from '../helpers/cli.js';
import { jsonBlob, pushBlob } from '../helpers/content.js';
import { startReceiver } from '../helpers/receiver.js';

const folders = tempFolders();
after(() => folders.removeAll());

/** `berth events …` in this process (one run through the real binary checks the wiring). */
const events = (args: string[]) => berthInProcess(['events', ...args], { commands: [registerEvents] });

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('dead letters and berth events', () => {
  it('gives up after maxage, keeps maxdead, lists them, and replays them with their ids', async () => {
    const hook = await startReceiver();
    hook.status = 503;
    const root = folders.make('notify-dead-');
    const notifications = {
      endpoints: [
        { name: 'flaky', url: hook.url, threshold: 1, backoff: '20ms', maxbackoff: '50ms', maxage: '3s', maxdead: 2 },
      ],
    };
    const file = join(root, 'config.yml');
    writeFileSync(
      file,
      stringify({ version: 0.1, storage: { filesystem: { rootdirectory: join(root, 'data') } }, notifications }),
    );
    const berth = await startBerth({ root: join(root, 'data'), config: { notifications } });
    try {
      const blobs = [1, 2, 3].map((index) => jsonBlob({ dead: index }));
      for (const blob of blobs) await pushBlob(berth.url, 'dead/repo', blob);
      const stats = () => berth.berth.notifier.stats()[0]!;
      await until('three events given up, the oldest dropped', () => stats().dead === 3 && stats().dropped === 1);
      assert.ok(hook.deliveries.length >= 3, 'each event was tried before it was given up');
      assert.equal(stats().deadLetters, 2, 'maxdead are kept');
      assert.equal(stats().delivered, 0);

      const listed = expectCode(await events(['list', file, '--json']), 0, 'events list');
      const dead = JSON.parse(listed.stdout) as { state: string; event: { id: string; target: { digest: string } } }[];
      assert.deepEqual(
        dead.map((row) => [row.state, row.event.target.digest]),
        [
          ['dead', blobs[1]!.digest],
          ['dead', blobs[2]!.digest],
        ],
        'the two newest, oldest first',
      );
      const text = expectCode(await berthCli(['events', 'list', file, '--dead']), 0, 'events list --dead');
      assert.match(text.stdout, new RegExp(`flaky\tdead\t${dead[0]!.event.id}\t`));
      assert.match(text.stderr, /0 pending, 2 dead/);

      hook.status = 200;
      const before = hook.deliveries.length;
      const replayed = expectCode(await events(['replay', file, '--id', dead[1]!.event.id]), 0, 'events replay --id');
      assert.match(replayed.stderr, /1 dead event queued/);
      await hook.waitFor(
        (current) =>
          current
            .events()
            .slice(before)
            .some((event) => event.id === dead[1]!.event.id),
        'the replayed event',
      );
      expectCode(await events(['replay', file]), 0, 'events replay');
      await hook.waitFor(
        (current) =>
          current
            .events()
            .slice(before)
            .some((event) => event.id === dead[0]!.event.id),
        'the other one',
      );
      await until('both delivered', () => stats().delivered === 2);
      const after = JSON.parse(expectCode(await events(['list', file, '--json']), 0, 'list').stdout);
      assert.deepEqual(after, [], 'nothing left pending or dead');
      const unknown = await events(['list', file, '--endpoint', 'nope']);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /no endpoint "nope"/);
    } finally {
      await berth.close();
      await hook.stop();
    }
  });
});

/**
 * Notifications with two Berth instances over one bucket (Ceph's radosgw) and one Redis: the
 * instance that holds the endpoint's delivery lease is killed with SIGKILL while the receiver is
 * down, with events recorded by both instances still pending; once the receiver is back, the
 * other instance takes the lease over and delivers every one of them, each once.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { tempDir } from '../helpers/berth.js';
import { cephTools, startCeph, type CephCluster } from '../helpers/ceph.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { redisTool, startRedis, type TestRedis } from '../helpers/redis.js';
import { describeWithTools } from '../helpers/tools.js';

const LEASE_KEY = 'berth:notifications:lease:hook';

describeWithTools('notifications across instances sharing a bucket and a Redis', [...cephTools(), redisTool()], () => {
  let ceph: CephCluster;
  let redis: TestRedis;
  let folder: string;
  let receiver: Receiver;
  const instances: BerthProcess[] = [];

  before(async () => {
    [ceph, redis] = await Promise.all([startCeph(), startRedis()]);
    receiver = await startReceiver();
    await receiver.stop();
  });

  after(async () => {
    for (const instance of instances) {
      instance.kill('SIGKILL');
      await waitForExit(instance).catch(() => undefined);
    }
    await receiver?.stop();
    await redis?.stop();
    await ceph?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("delivers a killed instance's events from the other instance, each once", async () => {
    const bucket = await ceph.createBucket();
    folder = tempDir('berth-notify-s3-');
    const config = join(folder, 'config.yml');
    writeFileSync(
      config,
      stringify({
        version: '0.1',
        log: { level: 'info', accesslog: { disabled: true } },
        storage: {
          s3: ceph.s3Config(bucket, { rootdirectory: '/shared' }),
          maintenance: { uploadpurging: { enabled: false } },
        },
        redis: { addr: redis.addr },
        http: { addr: '127.0.0.1:0' },
        notifications: {
          endpoints: [
            {
              name: 'hook',
              url: receiver.url,
              timeout: '1s',
              threshold: 1,
              backoff: '100ms',
              maxbackoff: '300ms',
              ignoredmediatypes: ['application/octet-stream'],
            },
          ],
        },
      }),
    );
    const client = new Redis(redis.port, '127.0.0.1');
    try {
      const first = await serveBerth({ args: ['serve', config] });
      instances.push(first);
      // The first instance takes the lease; the second one then waits for it.
      for (let attempt = 0; (await client.get(LEASE_KEY)) === null; attempt++) {
        assert.ok(attempt < 400, 'the first instance takes the delivery lease');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const holder = await client.get(LEASE_KEY);
      const second = await serveBerth({ args: ['serve', config] });
      instances.push(second);
      const pushed: string[] = [];
      for (const [index, instance] of [first, second, first, second].entries()) {
        const image = makeImage({ layers: 1 });
        assert.equal((await pushImage(instance.url!, 'shared/app', `v${index}`, image)).status, 201);
        pushed.push(`v${index}`);
      }
      assert.equal(await client.get(LEASE_KEY), holder, 'the first instance still holds the lease');
      first.kill('SIGKILL');
      await waitForExit(first);
      await receiver.start();
      await receiver.waitFor((current) => current.events().length >= pushed.length, 'every push event', 60_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const events = receiver.events();
      assert.deepEqual(
        events.map((event) => event.target.tag),
        pushed,
        'each once, in the order pushed',
      );
      assert.notEqual(await client.get(LEASE_KEY), holder, 'the second instance holds the lease now');
    } finally {
      client.disconnect();
    }
  });
});

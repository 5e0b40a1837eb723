/**
 * Budgets shared through a real Redis server by two Berth processes (as behind one load
 * balancer), and Berth still serving, and limiting, when that Redis server goes away.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { tempDir } from '../helpers/berth.js';
import { serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { client } from '../helpers/http.js';
import { describeWithTools } from '../helpers/tools.js';
import { redisTool, startRedis, type RedisServer } from './redis-server.js';
import { assertBudget, assertRefused } from './support.js';

describeWithTools('rate limits shared through Redis', [redisTool()], () => {
  let redis: RedisServer;
  let folder: string;
  const berths: Array<BerthProcess & { url: string }> = [];

  before(async () => {
    redis = await startRedis();
    folder = tempDir('berth-ratelimit-redis-');
    const config = {
      version: '0.1',
      log: { level: 'info', accesslog: { disabled: true } },
      // Both instances serve one storage folder, as instances behind one load balancer do.
      storage: { filesystem: { rootdirectory: join(folder, 'data') }, delete: { enabled: true } },
      http: { addr: '127.0.0.1:0' },
      redis: { addr: redis.addr, readtimeout: '500ms' },
      // One process per instance, so that counting in memory during the outage is per instance.
      berth: { workers: 1, ratelimit: { requests: '10/60s', pulls: '4/60s' } },
    };
    const file = join(folder, 'config.yml');
    writeFileSync(file, stringify(config));
    for (let index = 0; index < 2; index += 1) berths.push(await serveBerth({ args: ['serve', file] }));
  });

  after(async () => {
    for (const berth of berths) {
      berth.kill();
      await waitForExit(berth);
    }
    await redis?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('counts one budget across both instances', async () => {
    const [one, two] = berths.map((berth) => client(berth.url)) as [
      ReturnType<typeof client>,
      ReturnType<typeof client>,
    ];
    const image = makeImage({ layers: 1 });
    // 5 requests on instance one: POST and PUT for each of the two blobs, then the manifest.
    await pushImage(berths[0]!.url, 'shared/repo', 'v1', image);
    assertBudget(await two('GET', '/v2/shared/repo/manifests/v1'), 4, 3, 60, 'pull on two');
    assertBudget(await one('GET', '/v2/shared/repo/manifests/v1'), 4, 2, 60, 'pull on one');
    assertBudget(await two('GET', '/v2/'), 10, 2, 60, 'requests on two');
    assertBudget(await one('GET', '/v2/shared/repo/manifests/v1'), 4, 1, 60, 'pull on one');
    assertBudget(await two('GET', '/v2/shared/repo/manifests/v1'), 4, 0, 60, 'pull on two');
    assertRefused(await one('GET', '/v2/shared/repo/manifests/v1'), 4, 60, 'fifth pull, on one');
    assertRefused(await two('GET', '/v2/'), 10, 60, 'eleventh request, on two');
  });

  it('keeps serving, and limiting per instance, when Redis stops; says so in the log; shares again when it is back', async () => {
    await redis.stop();
    for (const berth of berths) {
      const api = client(berth.url);
      // Each instance now counts in its own memory, from zero.
      const reply = await api('GET', '/v2/shared/repo/manifests/v1');
      assert.equal(reply.status, 200, reply.text());
      assertBudget(reply, 4, 3, 60);
      assert.equal((await api('GET', '/v2/_catalog')).status, 200);
      await berth.waitForLine(
        (line) => typeof line.msg === 'string' && line.msg.startsWith('rate limits: Redis does not answer'),
        'Redis outage warning',
      );
    }
    const api = client(berths[0]!.url);
    for (let remaining = 2; remaining >= 0; remaining -= 1)
      assertBudget(await api('GET', '/v2/shared/repo/manifests/v1'), 4, remaining, 60);
    assertRefused(await api('GET', '/v2/shared/repo/manifests/v1'), 4, 60, 'in memory');

    // Redis comes back empty: the instances reconnect and count there again.
    await redis.restart();
    const deadline = Date.now() + 15_000;
    let back = false;
    while (!back && Date.now() < deadline) {
      const reply = await api('GET', '/v2/');
      back =
        reply.status === 200 &&
        berths[0]!.lines.some((line) => line.msg === 'rate limits: Redis answers again; budgets are shared again');
      if (!back) await sleep(200);
    }
    assert.ok(back, 'instance one logged that Redis is back');
  });
});

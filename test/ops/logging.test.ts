/**
 * Logs: `berth serve` writes JSON lines on stdout, one access line per request with method, URL
 * and status; credentials sent in Authorization never reach the log; `log.fields` are on every
 * line; `log.accesslog.disabled` turns the access lines off.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/berth.js';
import { serveBerth, waitForExit } from '../helpers/berth-process.js';
import { client } from '../helpers/http.js';

const folder = tempDir('berth-logging-');
after(() => rmSync(folder, { recursive: true, force: true }));

const SECRET = 'correct-horse-battery-staple';
const BASIC = `Basic ${Buffer.from(`alice:${SECRET}`).toString('base64')}`;

describe('request logs of berth serve', () => {
  it('are JSON lines with method, url and status, and never carry credentials', async () => {
    const file = join(folder, 'config.yml');
    writeFileSync(
      file,
      `version: 0.1
log:
  level: info
  fields:
    environment: test
storage:
  filesystem:
    rootdirectory: ${join(folder, 'data')}
http:
  addr: 127.0.0.1:0
`,
    );
    const berth = await serveBerth({ args: ['serve', file] });
    try {
      const api = client(berth.url);
      assert.equal((await api('GET', '/v2/', { headers: { Authorization: BASIC } })).status, 200);
      assert.equal(
        (await api('GET', '/v2/no/such/manifests/latest', { headers: { Authorization: `Bearer ${SECRET}` } })).status,
        404,
      );
      assert.equal(
        (
          await api('DELETE', '/v2/_catalog', {
            headers: { 'Proxy-Authorization': BASIC, Cookie: `session=${SECRET}` },
          })
        ).status,
        405,
      );
      await berth.waitForLine((line) => line.url === '/v2/_catalog', 'the access line of the last request');
    } finally {
      berth.kill('SIGTERM');
    }
    assert.equal((await waitForExit(berth)).code, 0);

    for (const raw of berth.rawLines) {
      assert.doesNotThrow(() => JSON.parse(raw), `every stdout line is JSON: ${raw}`);
      assert.ok(!raw.includes(SECRET), `no line carries the secret: ${raw}`);
      assert.ok(!raw.includes(BASIC.slice(6)), `no line carries the Basic credentials: ${raw}`);
      assert.ok(!/authorization|cookie/i.test(raw), `no line carries credential headers: ${raw}`);
    }
    const requests = berth.lines.filter((line) => line.msg === 'request');
    const find = (method: string, url: string) => requests.find((line) => line.method === method && line.url === url);
    const base = find('GET', '/v2/');
    assert.ok(base, `an access line for GET /v2/ among:\n${berth.rawLines.join('\n')}`);
    assert.equal(base.status, 200);
    assert.equal(typeof base.durationMs, 'number');
    assert.equal(base.remoteAddress, '127.0.0.1');
    assert.equal(find('GET', '/v2/no/such/manifests/latest')?.status, 404);
    assert.equal(find('DELETE', '/v2/_catalog')?.status, 405);
    assert.equal(requests.length, 3, 'one line per request');
    for (const line of berth.lines)
      assert.equal(line.environment, 'test', `log.fields on every line: ${JSON.stringify(line)}`);
  });
});

describe('log.accesslog.disabled', () => {
  function capture(): { stream: Writable; lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(text) as Record<string, unknown>);
        done();
      },
    });
    return { stream, lines };
  }

  for (const disabled of [false, true]) {
    it(`${disabled ? 'turns access lines off' : 'when false, access lines are written even with log.level warn'}`, async () => {
      const { stream, lines } = capture();
      const { config } = validateConfig({
        storage: { filesystem: { rootdirectory: join(folder, `data-${disabled}`) } },
        http: { addr: '127.0.0.1:0' },
        log: { accesslog: { disabled } },
      });
      const berth = createBerth(config, pino({ level: 'warn' }, stream));
      const { port } = await berth.listen({ host: '127.0.0.1', port: 0 });
      try {
        assert.equal((await client(`http://127.0.0.1:${port}`)('GET', '/v2/')).status, 200);
      } finally {
        await berth.close();
      }
      const accessLines = lines.filter((line) => line.msg === 'request');
      assert.equal(accessLines.length, disabled ? 0 : 1);
    });
  }
});

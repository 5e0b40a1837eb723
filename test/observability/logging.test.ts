/**
 * `log.formatter`: text (Distribution's logrus lines: time="…" level=info msg="…" key=value),
 * json (pino's lines) and logstash (@timestamp, @version, message); `log.fields` on every line.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnBerth, waitForExit } from '../helpers/berth-process.js';
import { tempFolders } from '../helpers/berth.js';
import { freePort } from '../helpers/tools.js';
import { textLine } from '../../src/logging.js';

const folders = tempFolders();
after(() => folders.removeAll());

async function serveWith(formatter: string): Promise<string[]> {
  const folder = folders.make('berth-log-format-');
  const port = await freePort();
  const file = join(folder, 'config.yml');
  writeFileSync(
    file,
    `version: 0.1
log:
  formatter: ${formatter}
  fields:
    environment: staging
storage:
  filesystem:
    rootdirectory: ${join(folder, 'data')}
http:
  addr: 127.0.0.1:${port}
berth:
  workers: 1
`,
  );
  const berth = spawnBerth({ args: ['serve', file] });
  try {
    await berth.waitForLine((line) => JSON.stringify(line).includes('Server listening at'), 'listening');
    const response = await fetch(`http://127.0.0.1:${port}/v2/some/app/manifests/latest`);
    assert.equal(response.status, 404);
    await response.arrayBuffer();
    await berth.waitForLine((line) => JSON.stringify(line).includes('/v2/some/app/manifests/latest'), 'access line');
  } finally {
    berth.kill('SIGTERM');
    await waitForExit(berth);
  }
  return berth.rawLines;
}

describe('log.formatter', () => {
  it('text writes one logrus line per entry, access lines with route and status', async () => {
    const lines = await serveWith('text');
    for (const line of lines)
      assert.match(line, /^time="\d{4}-\d\d-\d\dT[\d:.]+Z" level=(info|warn|error|debug) msg="/);
    const access = lines.find((line) => line.includes('url=/v2/some/app/manifests/latest'));
    assert.ok(access, lines.join('\n'));
    assert.match(access, / msg="request" /);
    assert.match(access, / method=GET /);
    assert.match(access, / route=manifest /);
    assert.match(access, / status=404 /);
    assert.match(access, / environment=staging/);
  });

  it('logstash writes JSON with @timestamp, @version and message', async () => {
    const lines = (await serveWith('logstash')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = lines.find((line) => line.url === '/v2/some/app/manifests/latest');
    assert.ok(access);
    assert.equal(access.message, 'request');
    assert.equal(access['@version'], '1');
    assert.equal(access.level, 'info');
    assert.equal(access.environment, 'staging');
    assert.ok(!Number.isNaN(Date.parse(String(access['@timestamp']))));
  });

  it('json keeps pino lines', async () => {
    const lines = (await serveWith('json')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = lines.find((line) => line.url === '/v2/some/app/manifests/latest');
    assert.ok(access);
    assert.equal(access.msg, 'request');
    assert.equal(access.level, 30);
  });

  it('text quotes values with spaces and writes objects as JSON', () => {
    const line = textLine(JSON.stringify({ level: 40, time: 0, msg: 'a "b"', note: 'two words', n: 3, o: { k: 1 } }));
    assert.equal(
      line,
      'time="1970-01-01T00:00:00.000Z" level=warn msg="a \\"b\\"" note="two words" n=3 o="{\\"k\\":1}"\n',
    );
  });
});

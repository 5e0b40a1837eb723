/**
 * What a configuration does not use is not loaded: `berth serve` with a plain filesystem
 * configuration (no S3, Azure, Redis, tokens, htpasswd, rate limits, proxy, metrics, tracing or
 * CloudEvents endpoints) serves its first request without loading the packages those need. A
 * probe imported before the server records every module the ES module loader loads and, when
 * asked, the CommonJS modules required so far.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../helpers/berth.js';
import { serveBerth, waitForExit } from '../helpers/berth-process.js';

const folder = tempDir('berth-lazy-modules-');
after(() => rmSync(folder, { recursive: true, force: true }));

/** Packages only other configurations need (prom-client's index: only its families are used). */
const UNUSED = [
  '@aws-sdk/',
  '@smithy/',
  '@azure/',
  'ioredis',
  'jose',
  'bcrypt',
  'bcryptjs',
  'rate-limiter-flexible',
  'cloudevents',
  '@opentelemetry/',
  'prom-client/index.js',
  'cli-progress',
];

it('a filesystem configuration serves without loading what only other configurations use', async () => {
  const log = join(folder, 'modules.log');
  writeFileSync(
    join(folder, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + '\\n');
  return next(url, context);
}
`,
  );
  writeFileSync(
    join(folder, 'probe.mjs'),
    `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(join(folder, 'hooks.mjs')).href)});
process.on('SIGUSR2', () => {
  appendFileSync(${JSON.stringify(log)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\nend of required modules\\n');
});
`,
  );
  const config = join(folder, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(folder, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n`,
  );
  const berth = await serveBerth({
    args: ['serve', config],
    nodeOptions: ['--import', pathToFileURL(join(folder, 'probe.mjs')).href],
  });
  try {
    const reply = await fetch(`${berth.url}/v2/`);
    assert.equal(reply.status, 200);
    berth.kill('SIGUSR2');
    for (let waited = 0; !readFileSync(log, 'utf8').includes('end of required modules'); waited += 50) {
      assert.ok(waited < 10_000, 'the probe did not list the required modules');
      await sleep(50);
    }
  } finally {
    berth.kill();
    await waitForExit(berth);
  }
  const loaded = readFileSync(log, 'utf8').split('\n');
  assert.ok(
    loaded.some((path) => path.includes('/node_modules/fastify/')),
    'the probe sees packages (fastify is loaded)',
  );
  for (const name of UNUSED) {
    const found = loaded.filter((path) => path.includes(`/node_modules/${name}`));
    assert.deepEqual(found, [], `${name} is loaded`);
  }
});

/**
 * The README's library example runs as written, against a real Berth: the TypeScript block of the
 * "Managing images from scripts" section is extracted, pointed at a test server and a temporary
 * folder, and executed; then the registry is checked for what it should have done.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RegistryClient } from '../../src/client/registry-client.js';
import { OciLayout } from '../../src/client/oci-layout.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { buildImage, pushBuiltImage } from '../helpers/images.js';

function readmeExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Managing images from scripts'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'README has a ts example in the client section');
  return match[1]!;
}

describe('README library example', () => {
  let berth: TestBerth;
  let folder: string;
  let previousConfig: string | undefined;
  before(async () => {
    berth = await startBerth();
    folder = tempDir('readme-');
    previousConfig = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = join(folder, 'docker');
  });
  after(async () => {
    if (previousConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = previousConfig;
    await berth.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('lists, reads a digest, deletes, copies to a layout and prunes', async () => {
    const registry = new RegistryClient(berth.host);
    const versions = ['release-1', '1.0', '2.0', ...Array.from({ length: 11 }, (_, index) => `3.${index}`)];
    const images = new Map<string, ReturnType<typeof buildImage>>();
    for (const [position, tag] of versions.entries()) {
      const image = buildImage({ created: new Date(Date.UTC(2024, 0, 1 + position)).toISOString() });
      images.set(tag, image);
      await pushBuiltImage(registry, 'team/app', tag, image);
    }
    const output: unknown[] = [];
    (globalThis as Record<string, unknown>).__readmeOutput = output;
    const code = readmeExample()
      .replaceAll("'localhost:5000'", `'${berth.host}'`)
      .replace("from 'berth'", `from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src', 'index.ts')).href)}`)
      .replace("'./build'", JSON.stringify(join(folder, 'build')))
      .replaceAll('console.log(', '(globalThis as any).__readmeOutput.push(');
    const file = join(folder, 'example.mts');
    writeFileSync(file, `${code}\nexport {};\n`);
    await import(pathToFileURL(file).href);

    const remaining = (await registry.tags('team/app')).sort();
    // 1.0 was deleted by the example; of the rest the newest 10 (3.1 to 3.10) and release-1 stay.
    assert.deepEqual(remaining, [...versions.slice(4), 'release-1'].sort());
    const layout = await OciLayout.open(join(folder, 'build'));
    assert.equal((await layout.resolve('2.0')).digest, images.get('2.0')!.digest);
    const pruned = output[0] as Array<{ tag: string }>;
    assert.deepEqual(pruned.map((decision) => decision.tag).sort(), ['2.0', '3.0']);
    registry.close();
  });
});

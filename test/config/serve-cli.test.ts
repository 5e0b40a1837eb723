/** `berth serve` refuses a configuration it cannot run: non-zero exit, the key named on stderr. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { spawnBerth, waitForExit } from '../helpers/berth-process.js';

const folder = tempDir('berth-serve-cli-');
after(() => rmSync(folder, { recursive: true, force: true }));

async function refused(config: string | undefined, env: Record<string, string> = {}): Promise<string> {
  const args = ['serve'];
  if (config !== undefined) {
    const file = join(folder, 'bad.yml');
    writeFileSync(file, config);
    args.push(file);
  }
  const berth = spawnBerth({ args, env });
  const { code } = await waitForExit(berth);
  assert.notEqual(code, 0, `berth serve should fail; stdout:\n${berth.rawLines.join('\n')}`);
  assert.equal(code, 2, 'configuration errors exit with 2');
  return berth.stderr();
}

const storage = `storage:\n  filesystem:\n    rootdirectory: ${join(folder, 'data')}\n`;

describe('berth serve with an invalid configuration', () => {
  it('names every invalid key, and the file, on stderr', async () => {
    const stderr = await refused(
      `${storage}  delete:\n    enabled: maybe\n  maintenance:\n    uploadpurging:\n      age: soon\nhttp:\n  addr: nonsense\n`,
    );
    assert.match(stderr, /invalid configuration in .*bad\.yml/);
    assert.match(stderr, /http\.addr: "nonsense" is not host:port/);
    assert.match(stderr, /storage\.delete\.enabled: expected true or false, not "maybe"/);
    assert.match(stderr, /storage\.maintenance\.uploadpurging\.age: "soon" is not a duration/);
  });

  it('names the REGISTRY_ variable that set a bad value', async () => {
    const stderr = await refused(undefined, {
      REGISTRY_HTTP_ADDR: 'localhost',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(folder, 'data'),
    });
    assert.match(stderr, /http\.addr \(set by REGISTRY_HTTP_ADDR\)/);
  });

  it("refuses TLS it cannot serve (Let's Encrypt) instead of serving plain HTTP", async () => {
    const stderr = await refused(
      `${storage}http:\n  addr: 127.0.0.1:0\n  tls:\n    letsencrypt:\n      cachefile: /tmp/x\n      email: a@example.com\n`,
    );
    assert.match(stderr, /http\.tls\.letsencrypt: Let's Encrypt certificates are not supported/);
  });

  it('a missing configuration file is named', async () => {
    const berth = spawnBerth({ args: ['serve', join(folder, 'missing.yml')] });
    const { code } = await waitForExit(berth);
    assert.equal(code, 2);
    assert.match(berth.stderr(), /cannot read configuration file .*missing\.yml/);
  });

  it('nothing is written to the storage folder when start-up is refused', () => {
    assert.equal(existsSync(join(folder, 'data')), false);
  });
});

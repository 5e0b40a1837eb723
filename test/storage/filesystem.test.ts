/** The filesystem driver against the driver contract, plus what only its folder on disk shows. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.js';
import { InvalidPathError } from '../../src/storage/driver.js';
import { tempDir } from '../helpers/berth.js';
import { listTree } from '../helpers/files.js';
import { INVALID_PATHS, runDriverContract } from './contract.js';

const roots: string[] = [];
function freshRoot(): string {
  const root = tempDir('berth-fs-driver-');
  roots.push(root);
  return root;
}
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

runDriverContract('filesystem', () => new FilesystemDriver({ rootdirectory: freshRoot() }));

describe('filesystem driver on disk', () => {
  it('keeps no temporary file after putContent, and its temporary folder out of listings', async () => {
    const root = freshRoot();
    const driver = new FilesystemDriver({ rootdirectory: root });
    await Promise.all(Array.from({ length: 8 }, (_, index) => driver.putContent('/docker/link', `value ${index}`)));
    assert.deepEqual(listTree(root), ['.berth-tmp/', 'docker/', 'docker/link']);
    assert.deepEqual(await driver.list('/'), ['docker']);
    await assert.rejects(driver.list('/.berth-tmp'), InvalidPathError);
    await assert.rejects(driver.putContent('/.berth-tmp/x', 'x'), InvalidPathError);
  });

  it('refuses invalid paths without creating anything on disk', async () => {
    const root = freshRoot();
    const driver = new FilesystemDriver({ rootdirectory: root });
    for (const bad of INVALID_PATHS) {
      await assert.rejects(driver.putContent(bad, 'x'), InvalidPathError);
      await assert.rejects(driver.writer(bad), InvalidPathError);
      await assert.rejects(driver.move('/a', bad), InvalidPathError);
    }
    assert.deepEqual(readdirSync(root), []);
  });
});

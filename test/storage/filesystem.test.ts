/** The filesystem driver against the driver contract, plus what only its folder on disk shows. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pbkdf2, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.js';
import { FileAppender, WritePlacement } from '../../src/storage/filesystem/streams.js';
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

describe('filesystem appends, on the thread pool and inline', () => {
  /** Writes `pieces` through an appender, as a pipeline would; settles once it has finished or failed. */
  function append(appender: FileAppender, pieces: Buffer[]): Promise<void> {
    return pipeline(Readable.from(pieces), appender);
  }

  function pieces(count: number): Buffer[] {
    return Array.from({ length: count }, (_, index) => randomBytes(1000 + ((index * 7919) % 70_000)));
  }

  it('stores every piece in order in either place, and counts what was already there', async () => {
    const root = freshRoot();
    const file = join(root, 'data');
    writeFileSync(file, 'before');
    const placement = new WritePlacement();
    const first = pieces(60);
    const pooled = new FileAppender(openSync(file, 'a'), 6, undefined, placement);
    assert.equal(pooled.writesInline, false);
    await append(pooled, first);
    placement.poolFellBehind(); // the next streams write inline
    const inline = new FileAppender(openSync(file, 'a'), statSync(file).size, undefined, placement);
    assert.equal(inline.writesInline, true);
    const second = pieces(60);
    await append(inline, second);
    assert.equal(inline.size, statSync(file).size);
    assert.deepEqual(readFileSync(file), Buffer.concat([Buffer.from('before'), ...first, ...second]));
  });

  it('moves a stream inline when the thread pool keeps it waiting, without losing a byte', async () => {
    const root = freshRoot();
    const file = join(root, 'data');
    // Every pool thread busy for a while: the stream's first write waits behind them.
    const busy = Array.from({ length: 8 }, () => promisify(pbkdf2)('x', 'y', 200_000, 32, 'sha512'));
    const placement = new WritePlacement();
    const appender = new FileAppender(openSync(file, 'a'), 0, undefined, placement);
    assert.equal(appender.writesInline, false);
    const body = Array.from({ length: 64 }, () => randomBytes(64 * 1024));
    await append(appender, body);
    await Promise.all(busy);
    assert.equal(appender.writesInline, true);
    assert.equal(placement.inline(), true, 'new streams start inline');
    assert.deepEqual(readFileSync(file), Buffer.concat(body));
  });

  it('fails with the write error in either place (a full device)', async (t) => {
    if (!existsSync('/dev/full')) {
      t.skip('no /dev/full on this system');
      return;
    }
    const placement = new WritePlacement();
    for (const inline of [false, true]) {
      if (inline) placement.poolFellBehind();
      const appender = new FileAppender(openSync('/dev/full', 'a'), 0, undefined, placement);
      assert.equal(appender.writesInline, inline);
      await assert.rejects(append(appender, pieces(4)), { code: 'ENOSPC' }, inline ? 'inline' : 'pool');
    }
  });
});

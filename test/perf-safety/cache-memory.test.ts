/**
 * What a cache of small content costs in memory: the manifest cache counts its budget in bytes of
 * content, so each entry must hold only its own bytes. Small Buffers are usually views into
 * Node's shared 8 KiB pool (request bodies, file reads): a cached view would keep the whole pool
 * block alive, twenty times the budget for manifests of a few hundred bytes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContentCache } from '../../src/registry/content-cache.js';
import { tempFolders } from '../helpers/berth.js';

describe('the manifest cache holds only the bytes it counts', () => {
  const folders = tempFolders();
  after(() => folders.removeAll());

  it('keeps a copy of content that is a view into a larger block, and the content itself otherwise', () => {
    const cache = new ContentCache(1024 * 1024, 'test');
    const folder = folders.make('berth-cache-');
    const pooled = Array.from({ length: 50 }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(300) })));
    const read = pooled.map((content, i) => {
      writeFileSync(join(folder, `m${i}`), content);
      return readFileSync(join(folder, `m${i}`));
    });
    const whole = Buffer.allocUnsafeSlow(5000).fill(1);
    assert.ok(
      [...pooled, ...read].every((content) => content.buffer.byteLength > content.length),
      'small Buffers from JSON text and file reads share larger blocks',
    );
    const contents = [...pooled, ...read, whole];
    for (const [i, content] of contents.entries()) cache.set(`k${i}`, content);
    for (const [i, content] of contents.entries()) {
      const kept = cache.get(`k${i}`)!;
      assert.ok(kept.equals(content), `entry ${i} holds the content`);
      assert.equal(kept.buffer.byteLength, kept.length, `entry ${i} holds only its own bytes`);
    }
    assert.equal(cache.get(`k${pooled.length * 2}`), whole, 'a Buffer that owns its block is kept as it is');
  });
});

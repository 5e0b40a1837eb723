/** The natural, semver-aware tag order the UI sorts by (src/api/tag-order.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareTagsNaturally } from '../../src/api/tag-order.js';

describe('natural tag order', () => {
  it('orders numbers by value and pre-releases before their release', () => {
    const tags = [
      'v1.10.0',
      'latest',
      'v1.9.2',
      '2',
      '10',
      'v1.10.0-rc.1',
      'v1.2',
      '1.0.0',
      '1.0.0-beta',
      '1.0.0-alpha',
      'v1.10.0-rc.2',
    ];
    assert.deepEqual([...tags].sort(compareTagsNaturally), [
      '1.0.0-alpha',
      '1.0.0-beta',
      '1.0.0',
      '2',
      '10',
      'latest',
      'v1.2',
      'v1.9.2',
      'v1.10.0-rc.1',
      'v1.10.0-rc.2',
      'v1.10.0',
    ]);
  });

  it('is a total order: antisymmetric and transitive over generated tags', () => {
    const tag = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,10}$/);
    fc.assert(
      fc.property(tag, tag, tag, (a, b, c) => {
        assert.ok(Math.sign(compareTagsNaturally(a, b)) === -Math.sign(compareTagsNaturally(b, a)), `${a} ~ ${b}`);
        if (compareTagsNaturally(a, b) === 0) assert.equal(a, b);
        if (compareTagsNaturally(a, b) < 0 && compareTagsNaturally(b, c) < 0)
          assert.ok(compareTagsNaturally(a, c) < 0, `${a} < ${b} < ${c}`);
      }),
      { numRuns: 2000 },
    );
  });
});

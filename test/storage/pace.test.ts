/**
 * The helpers that keep work in memory from holding the event loop: `sortPaced` sorts as
 * Array.prototype.sort does (same order, stable) at any size, and both it and `forEachPaced` give
 * the event loop turns on large inputs (a timer set before them fires before they finish).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { forEachPaced, sortPaced } from '../../src/storage/pace.js';

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Whether a timer set now fires before `work` finishes: the event loop had a turn meanwhile. */
async function turnsDuring(work: () => Promise<unknown>): Promise<boolean> {
  let fired = false;
  const timer = setTimeout(() => (fired = true), 0);
  await work();
  clearTimeout(timer);
  return fired;
}

describe('paced work in memory', () => {
  it('sorts in the order and with the stability of Array.prototype.sort, at every size', async () => {
    for (const size of [0, 1, 2, 2047, 2048, 2049, 5000, 40_000]) {
      // Few distinct keys, so equal keys are many and stability shows.
      const items = Array.from({ length: size }, (_, at) => ({ key: randomBytes(1).toString('hex'), at }));
      const expected = [...items].sort(byKey);
      assert.deepEqual(await sortPaced(items, byKey), expected, `${size} items`);
    }
  });

  it('gives the event loop turns while sorting 200,000 names or looping over 50 ms of work', async () => {
    const names = Array.from({ length: 200_000 }, () => `team/${randomBytes(8).toString('hex')}`);
    const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    assert.ok(await turnsDuring(() => sortPaced(names, compare)), 'a sort of 200,000 names yields');
    // 5,000 items of 10 µs each: far more than one slice, whatever the machine.
    const spin = () => {
      const until = performance.now() + 0.01;
      while (performance.now() < until);
    };
    let visited = 0;
    assert.ok(
      await turnsDuring(() =>
        forEachPaced(names.slice(0, 5000), () => {
          spin();
          visited++;
        }),
      ),
      'a loop of 50 ms yields',
    );
    assert.equal(visited, 5000);
  });
});

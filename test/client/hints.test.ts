/** Usage errors that say what is wrong: a registry named where a repository belongs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { berthInProcess, expectCode } from '../helpers/cli.js';
import { parseImageReference } from '../../src/client/reference.js';

describe('a registry without a repository', () => {
  it('berth tags localhost:5000 says the repository is missing, not docker.io/library/localhost', async () => {
    const result = expectCode(await berthInProcess(['tags', 'localhost:5000']), 2, 'tags localhost:5000');
    assert.match(result.stderr, /"localhost:5000" names a registry but no repository/);
    assert.match(result.stderr, /localhost:5000\/team\/app/);
    assert.doesNotMatch(result.stderr, /library\/localhost/);
  });

  it('refuses host:port, IP:port and localhost alone; Docker Hub names with tags stay Docker Hub', () => {
    for (const text of ['localhost', 'localhost:5000', '127.0.0.1:5000', 'registry.example.com:443', '[::1]:5000'])
      assert.throws(
        () => parseImageReference(text, { allowTagless: true }),
        /names a registry but no repository/,
        text,
      );
    assert.deepEqual(parseImageReference('redis:7'), { registry: 'docker.io', repository: 'library/redis', tag: '7' });
    assert.equal(parseImageReference('my.app', { allowTagless: true }).repository, 'library/my.app');
  });
});

/**
 * The roles table of docs/auth.md is true: Berth is started with the configuration printed there,
 * each role signs in through the token flow (anonymous: no credentials), and every operation of
 * the table is tried against the real server. A cell says "yes" exactly when the request gets
 * past authorization (any answer but 401 and 403).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { withTokenFlow, writeHtpasswd } from './support.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'auth.md'), 'utf8');

function section(marker: string): string {
  const start = doc.indexOf(`<!-- ${marker} -->`);
  assert.ok(start !== -1, `docs/auth.md has <!-- ${marker} -->`);
  return doc.slice(start + marker.length + 9);
}

const configuration = parse(/```yaml\n([\s\S]*?)```/.exec(section('roles-config'))![1]!) as {
  berth: { auth: Record<string, unknown> };
};
const tableLines = section('roles-table')
  .trim()
  .split('\n')
  .filter((line) => line.startsWith('|'));
const cells = (line: string) =>
  line
    .split('|')
    .slice(1, -1)
    .map((cell) => cell.trim());
const roles = cells(tableLines[0]!)
  .slice(1)
  .map((heading) => heading.split(' ')[0]!);
const rows = tableLines.slice(2).map(cells);

describe('docs/auth.md: what each role can do', () => {
  let server: TestBerth;
  before(async () => {
    const users = Object.fromEntries(
      roles.filter((role) => role !== 'anonymous').map((role) => [role, `${role}-password`]),
    );
    const htpasswd = writeHtpasswd(tempDir('berth-auth-roles-'), users);
    server = await startBerth({ config: { berth: { auth: { ...configuration.berth.auth, htpasswd } } } });
  });
  after(() => server.close());

  it('documents roles and operations', () => {
    assert.deepEqual(roles, ['anonymous', 'bob', 'alice', 'mallory', 'root']);
    assert.ok(rows.length >= 8);
  });

  /** The request that performs an operation of the table. */
  function request(operation: string, user: string): { path: string; init: RequestInit } {
    const named = /^(pull|push|delete) `([^`]+)`/.exec(operation);
    if (named) {
      const name = named[2]!.replace('${user}', user);
      if (named[1] === 'pull') return { path: `/v2/${name}/tags/list`, init: {} };
      if (named[1] === 'push') return { path: `/v2/${name}/blobs/uploads/`, init: { method: 'POST' } };
      return { path: `/v2/${name}/manifests/sha256:${'0'.repeat(64)}`, init: { method: 'DELETE' } };
    }
    if (/catalog/.test(operation)) return { path: '/v2/_catalog', init: {} };
    if (/\/_berth\/admin\//.test(operation)) return { path: '/_berth/admin/roles-test-probe', init: {} };
    throw new Error(`docs/auth.md: unknown operation "${operation}"`);
  }

  for (const row of rows) {
    const operation = row[0]!;
    it(operation, async () => {
      for (const [index, role] of roles.entries()) {
        const expected = row[index + 1];
        assert.ok(expected === 'yes' || expected === 'no', `cell for ${role}: "${expected}"`);
        const { path, init } = request(operation, role);
        const credentials: [string, string] | undefined = role === 'anonymous' ? undefined : [role, `${role}-password`];
        const response = await withTokenFlow(`${server.url}${path}`, init, credentials);
        await response.arrayBuffer();
        const allowed = response.status !== 401 && response.status !== 403;
        assert.equal(
          allowed ? 'yes' : 'no',
          expected,
          `${operation} as ${role}: ${init.method ?? 'GET'} ${path} answered ${response.status}`,
        );
      }
    });
  }
});

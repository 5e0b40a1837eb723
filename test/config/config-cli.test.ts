/**
 * The configuration's JSON Schema (generated from the zod schema, checked in, kept current) and
 * `berth config check` / `berth config print`, on Distribution's example configurations from its
 * documentation and on Debian's packaged /etc/docker/registry/config.yml.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { configJsonSchema, configJsonSchemaText } from '../../src/config/json-schema.js';
import { CONFIG_YAML } from '../../src/config/yaml.js';
import { tempFolders } from '../helpers/berth.js';
import { berthCli, REPO_ROOT } from '../helpers/cli.js';
import { describeWithTools, tools } from '../helpers/tools.js';

const SCHEMA_FILE = join(REPO_ROOT, 'config', 'config.schema.json');
const REFERENCE = '/work/shared/reference/distribution-docs/about-configuration.md';
const DEBIAN_CONFIG = '/etc/docker/registry/config.yml';

/** The YAML examples at the end of Distribution's configuration reference. */
function referenceExamples(): Record<string, string> {
  const text = readFileSync(REFERENCE, 'utf8');
  const block = (heading: string) => {
    const start = text.indexOf(heading);
    assert.ok(start >= 0, heading);
    const match = /```yaml\n([\s\S]*?)```/.exec(text.slice(start));
    return match![1]!;
  };
  return {
    development: block('## Example: Development configuration'),
    // The middleware example is a fragment; a storage driver makes it a whole configuration.
    middleware: `storage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n${block('## Example: Middleware configuration')}`,
  };
}

const validator = () => new Ajv({ allErrors: true, strict: false }).compile(configJsonSchema());
const read = (text: string) => parse(text, CONFIG_YAML) as unknown;

describe('the JSON Schema of config.yml', () => {
  it('is checked in as generated from the zod schema (run npm run config-schema)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), configJsonSchemaText(), 'config/config.schema.json is stale');
  });

  it("accepts Distribution's example configurations and refuses what Berth refuses", () => {
    const validate = validator();
    for (const [name, text] of Object.entries(referenceExamples())) {
      assert.ok(validate(read(text)), `${name}: ${JSON.stringify(validate.errors)}`);
    }
    const wrong = { storage: { filesystem: {} }, http: { net: 'udp' } };
    assert.equal(validate(wrong), false);
    assert.ok(validate.errors!.some((error) => error.instancePath === '/http/net'));
  });

  it('names itself in the yaml-language-server comment of config/config.yml', () => {
    const example = readFileSync(join(REPO_ROOT, 'config', 'config.yml'), 'utf8');
    assert.match(example.split('\n')[0]!, /^# yaml-language-server: \$schema=\.\/config\.schema\.json$/);
  });
});

describe('berth config check and print', () => {
  const folders = tempFolders();
  after(() => folders.removeAll());

  it("passes Distribution's example configurations, with their warnings", async () => {
    const folder = folders.make('berth-config-examples-');
    for (const [name, text] of Object.entries(referenceExamples())) {
      const file = join(folder, `${name}.yml`);
      writeFileSync(file, text);
      const result = await berthCli(['config', 'check', file]);
      assert.equal(result.code, 0, `${name}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /0 errors/, name);
    }
    const middleware = await berthCli(['config', 'check', join(folder, 'middleware.yml')]);
    assert.match(middleware.stdout, /middleware\.yml:5: warning: "middleware\.storage" is ignored: .*redirect only/);
  });

  it('prints every problem with its key path and line, and the variable that set it', async () => {
    const file = join(folders.make('berth-config-bad-'), 'config.yml');
    writeFileSync(
      file,
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        '    rootdirectory: /srv/registry',
        '  delete:',
        '    enabled: maybe',
        'http:',
        '  addr: nonsense',
        '  extra: 1',
        'compatibility:',
        '  schema1:',
        '    enabled: true',
        '',
      ].join('\n'),
    );
    const result = await berthCli(['config', 'check', file], { env: { REGISTRY_LOG_LEVEL: 'loud' } });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(
      lines.includes(`${file}:6: error: storage.delete.enabled: expected true or false, not "maybe"`),
      result.stdout,
    );
    assert.ok(
      lines.some((line) => line.startsWith(`${file}:8: error: http.addr: "nonsense" is not host:port`)),
      result.stdout,
    );
    assert.ok(
      lines.some((line) => line.startsWith(`${file}:11: error: compatibility.schema1: Berth does not serve schema 1`)),
    );
    assert.ok(
      lines.some((line) => line.startsWith(`${file}: error: log.level (set by REGISTRY_LOG_LEVEL): expected one of`)),
    );
    assert.equal(lines.at(-1), `${file}: 4 errors, 0 warnings`);
  });

  it('shows the effective configuration: overrides applied, unknown keys dropped, secrets redacted', async () => {
    const file = join(folders.make('berth-config-print-'), 'config.yml');
    writeFileSync(
      file,
      [
        'storage:',
        '  filesystem: {rootdirectory: /srv/registry}',
        'http: {addr: ":5000", secret: s3cr3t-value, nonsense: 1}',
        'redis: {addr: "localhost:6379", password: hunter2-value}',
        '',
      ].join('\n'),
    );
    const result = await berthCli(['config', 'print', file], { env: { REGISTRY_HTTP_ADDR: '127.0.0.1:5001' } });
    assert.equal(result.code, 0, result.stderr);
    const shown = parse(result.stdout) as { http: Record<string, unknown>; redis: Record<string, unknown> };
    assert.equal(shown.http.addr, '127.0.0.1:5001');
    assert.equal(shown.http.secret, '<redacted>');
    assert.equal(shown.redis.password, '<redacted>');
    assert.equal(shown.redis.addr, 'localhost:6379');
    assert.equal('nonsense' in shown.http, false);
    assert.doesNotMatch(result.stdout, /s3cr3t-value|hunter2-value/);
  });
});

describeWithTools("berth config check on Debian's packaged config.yml", [tools.distribution()], () => {
  it('reports the htpasswd path that names a directory, on its line', async () => {
    const result = await berthCli(['config', 'check', DEBIAN_CONFIG]);
    assert.equal(result.code, 2, result.stdout);
    assert.match(
      result.stdout,
      /config\.yml:\d+: error: auth\.htpasswd\.path: htpasswd path \/etc\/docker\/registry is a directory, not an htpasswd file: set auth\.htpasswd\.path to a file/,
    );
    assert.ok(validator()(read(readFileSync(DEBIAN_CONFIG, 'utf8'))), 'the JSON Schema accepts it');
  });
});

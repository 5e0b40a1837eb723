/** `REGISTRY_…` environment overrides, as Distribution applies them over config.yml. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/berth.js';

const folder = tempDir('berth-env-');
after(() => rmSync(folder, { recursive: true, force: true }));

const FILE = join(folder, 'config.yml');
writeFileSync(
  FILE,
  `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /from/file
  delete:
    enabled: true
  gcs:
    bucket: unused
http:
  addr: :5000
  tls:
    clientcas:
      - /file/ca-0.pem
      - /file/ca-1.pem
`,
);

function withEnv(env: Record<string, string>) {
  return loadConfig(FILE, env);
}

describe('REGISTRY_ environment overrides', () => {
  it('REGISTRY_HTTP_ADDR and REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY replace the file values', () => {
    const { config, overrides } = withEnv({
      REGISTRY_HTTP_ADDR: '127.0.0.1:5001',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/from/env',
    });
    assert.equal(config.http.addr, '127.0.0.1:5001');
    assert.equal(config.storage.filesystem?.rootdirectory, '/from/env');
    assert.deepEqual(overrides.sort(), ['http.addr', 'storage.filesystem.rootdirectory']);
  });

  it('REGISTRY_STORAGE_DELETE_ENABLED=false turns a boolean off', () => {
    assert.equal(withEnv({}).config.storage.delete.enabled, true);
    assert.equal(withEnv({ REGISTRY_STORAGE_DELETE_ENABLED: 'false' }).config.storage.delete.enabled, false);
  });

  it('REGISTRY_LOG_LEVEL sets the level, in any case', () => {
    assert.equal(withEnv({ REGISTRY_LOG_LEVEL: 'debug' }).config.log.level, 'debug');
    assert.equal(withEnv({ REGISTRY_LOG_LEVEL: 'ERROR' }).config.log.level, 'error');
  });

  it('a numbered variable overrides one entry of a list and keeps the others', () => {
    const { config } = withEnv({ REGISTRY_HTTP_TLS_CLIENTCAS_0: '/env/ca.pem' });
    assert.deepEqual(config.http.tls?.clientcas, ['/env/ca.pem', '/file/ca-1.pem']);
    const appended = withEnv({ REGISTRY_HTTP_TLS_CLIENTCAS_2: '/env/ca-2.pem' }).config;
    assert.deepEqual(appended.http.tls?.clientcas, ['/file/ca-0.pem', '/file/ca-1.pem', '/env/ca-2.pem']);
  });

  it('a numbered variable creates a list the file does not have', () => {
    const { config } = loadConfig(undefined, { REGISTRY_HTTP_TLS_CLIENTCAS_0: '/env/ca.pem' });
    assert.deepEqual(config.http.tls?.clientcas, ['/env/ca.pem']);
  });

  it('an index past the end of a list is refused, naming the variable', () => {
    assert.throws(
      () => withEnv({ REGISTRY_HTTP_TLS_CLIENTCAS_5: '/env/ca.pem' }),
      (error: Error) =>
        error instanceof ConfigError &&
        /REGISTRY_HTTP_TLS_CLIENTCAS_5: index 5 is past the end of "http\.tls\.clientcas"/.test(error.message),
    );
  });

  it('a YAML flow list or map sets a whole list or map', () => {
    const { config } = withEnv({
      REGISTRY_HTTP_TLS_CLIENTCAS: '[/a.pem, /b.pem]',
      REGISTRY_HTTP_HEADERS: '{X-Frame-Options: [DENY]}',
    });
    assert.deepEqual(config.http.tls?.clientcas, ['/a.pem', '/b.pem']);
    assert.deepEqual(config.http.headers, { 'X-Frame-Options': ['DENY'] });
  });

  it('REGISTRY_STORAGE=filesystem keeps the filesystem settings and drops other drivers', () => {
    const { config, warnings } = withEnv({ REGISTRY_STORAGE: 'filesystem' });
    assert.equal(config.storage.filesystem?.rootdirectory, '/from/file');
    assert.equal(config.storage.gcs, undefined);
    assert.equal(config.storage.delete.enabled, true, 'storage settings are kept');
    assert.ok(!warnings.some((warning) => warning.includes('storage.gcs')), 'the dropped driver is not warned about');
    const moved = withEnv({
      REGISTRY_STORAGE: 'filesystem',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/env/root',
    }).config;
    assert.equal(
      moved.storage.filesystem?.rootdirectory,
      '/env/root',
      'REGISTRY_STORAGE applies before REGISTRY_STORAGE_…',
    );
  });

  it('REGISTRY_STORAGE naming a driver Berth does not serve is refused', () => {
    assert.throws(
      () => withEnv({ REGISTRY_STORAGE: 'gcs' }),
      (error: Error) =>
        error instanceof ConfigError &&
        /storage \(set by REGISTRY_STORAGE\): Berth serves storage\.filesystem/.test(error.message),
    );
  });

  it('values stay strings unless the key wants another type', () => {
    const { config } = withEnv({
      REGISTRY_LOG_FIELDS_BUILD: '0123',
      REGISTRY_LOG_FIELDS_RATIO: '1e3',
      REGISTRY_CATALOG_MAXENTRIES: '50',
    });
    assert.deepEqual(config.log.fields, { build: '0123', ratio: '1e3' });
    assert.equal(config.catalog.maxentries, 50);
  });

  it('an empty variable changes nothing', () => {
    const { config } = withEnv({ REGISTRY_HTTP_ADDR: '', REGISTRY_HTTP_HOST: '' });
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.host, undefined);
  });

  it('an invalid value names the key and the variable that set it', () => {
    assert.throws(
      () => withEnv({ REGISTRY_STORAGE_DELETE_ENABLED: 'maybe' }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.includes(
          'storage.delete.enabled (set by REGISTRY_STORAGE_DELETE_ENABLED): expected true or false, not "maybe"',
        ),
    );
    assert.throws(
      () => withEnv({ REGISTRY_HTTP_ADDR: 'localhost' }),
      (error: Error) => error instanceof ConfigError && error.message.includes('http.addr (set by REGISTRY_HTTP_ADDR)'),
    );
  });

  it('an unknown variable is reported as an unknown key', () => {
    const { warnings } = withEnv({ REGISTRY_HTTP_NONSENSE: 'x' });
    assert.ok(warnings.includes('configuration: unknown key "http.nonsense" ignored'), warnings.join('\n'));
  });
});

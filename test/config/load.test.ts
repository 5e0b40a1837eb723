/**
 * Loading config.yml: the embedded default, Distribution's defaults, Distribution's full example
 * (warnings for what Berth ignores, never errors), unknown keys, invalid values named by key, and
 * the YAML dialect Distribution writes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfigText, validateConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/berth.js';
import { REPO_ROOT } from '../helpers/berth-process.js';

const EXAMPLE = join(REPO_ROOT, 'test', 'config', 'fixtures', 'distribution-example.yml');
const HOUR = 3_600_000;

const folders: string[] = [];
after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function writeConfig(text: string): string {
  const folder = tempDir('berth-config-');
  folders.push(folder);
  const file = join(folder, 'config.yml');
  writeFileSync(file, text);
  return file;
}

function load(text: string, env: Record<string, string> = {}) {
  return loadConfig(writeConfig(text), env);
}

/** The ConfigError a configuration raises (fails when it loads). */
function configError(text: string, env: Record<string, string> = {}): string {
  try {
    load(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    return error.message;
  }
  assert.fail(`configuration loaded, but should not have:\n${text}`);
}

const STORAGE = 'storage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n';

describe('configuration defaults', () => {
  it('the embedded default serves ./data on :5000 with deletion on, and warns about nothing', () => {
    const { config, warnings, source } = loadConfig(undefined, {});
    assert.equal(source, 'default');
    assert.deepEqual(warnings, []);
    assert.equal(config.storage.filesystem?.rootdirectory, './data');
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.http.addr, ':5000');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.equal(config.log.level, 'info');
  });

  it('config/config.yml loads without warnings and matches the embedded default', () => {
    const shipped = loadConfig(join(REPO_ROOT, 'config', 'config.yml'), {});
    assert.deepEqual(shipped.warnings, []);
    assert.deepEqual(shipped.config, loadConfig(undefined, {}).config);
  });

  it("keys left out take Distribution's defaults", () => {
    const { config, warnings } = validateConfig({ storage: { filesystem: null } });
    assert.deepEqual(warnings, []);
    assert.equal(config.version, '0.1');
    assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
    assert.equal(config.storage.delete.enabled, false);
    assert.deepEqual(config.storage.maintenance.uploadpurging, {
      enabled: true,
      age: 168 * HOUR,
      interval: 24 * HOUR,
      dryrun: false,
    });
    assert.equal(config.storage.maintenance.readonly, undefined);
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.net, 'tcp');
    assert.equal(config.http.prefix, '/');
    assert.equal(config.http.host, undefined);
    assert.equal(config.http.relativeurls, false);
    assert.equal(config.http.draintimeout, undefined);
    assert.equal(config.http.tls, undefined);
    assert.deepEqual(config.http.headers, {});
    assert.equal(config.log.level, 'info');
    assert.equal(config.catalog.maxentries, 1000);
    assert.equal(config.berth.manifestmaxsize, 4 * 1024 * 1024);
  });
});

describe("Distribution's full example configuration", () => {
  /** The example, minus `auth`: it lists every auth provider at once, which no registry runs (auth has its own tests). */
  function loadExample() {
    const { raw, warnings: parseWarnings } = parseConfigText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    delete raw.auth;
    // It also configures every storage driver at once; Berth serves the filesystem one of them
    // here (the S3 section is loaded in test/s3/config.test.ts, the Azure one in
    // test/azure/config.test.ts, the in-memory one in test/storage).
    delete (raw.storage as Record<string, unknown>).s3;
    delete (raw.storage as Record<string, unknown>).azure;
    delete (raw.storage as Record<string, unknown>).inmemory;
    // Its endpoint's `headers: <http.Header>` is a placeholder, not a map (Distribution refuses it too).
    const [listener] = (raw.notifications as { endpoints: Record<string, unknown>[] }).endpoints;
    if (listener) delete listener.headers;
    // Its proxy credentials are placeholders that YAML reads as lists (`[username]`), which
    // Distribution refuses too: the values a real configuration has stand in for them.
    Object.assign(raw.proxy as Record<string, unknown>, { username: 'username', password: 'password' });
    const { config, warnings } = validateConfig(raw);
    return { config, warnings: [...parseWarnings, ...warnings] };
  }

  it('loads, with a warning (not an error) for each part Berth ignores', () => {
    const { warnings } = loadExample();
    const expected = [
      '"middleware.registry"',
      '"middleware.repository"',
      '"proxy.exec"',
      '"validation.manifests.indexes"',
      '"tags"',
      '"log.hooks"',
      '"loglevel" is deprecated',
      '"storage.gcs"',
      '"storage.cache"',
      '"storage.tag"',
      '"storage.filesystem.maxthreads"',
      '"http.secret"',
      '"middleware.storage" is written more than once',
      '"redis.tls" is written more than once',
    ];
    for (const fragment of expected) {
      assert.ok(
        warnings.some((warning) => warning.includes(fragment)),
        `a warning mentions ${fragment}; got:\n${warnings.join('\n')}`,
      );
    }
    assert.ok(
      !warnings.some((warning) => warning.includes('unknown key')),
      `no key of the example is unknown:\n${warnings.join('\n')}`,
    );
  });

  it('keeps the values of the sections Berth implements', () => {
    const { config } = loadExample();
    assert.equal(config.log.level, 'debug');
    assert.deepEqual(config.log.fields, { service: 'registry', environment: 'staging' });
    assert.equal(config.log.accesslog?.disabled, true);
    assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
    assert.equal(config.storage.delete.enabled, false);
    assert.deepEqual(config.storage.maintenance.uploadpurging, {
      enabled: true,
      age: 168 * HOUR,
      interval: 24 * HOUR,
      dryrun: false,
    });
    assert.equal(config.storage.maintenance.readonly?.enabled, false);
    assert.equal(config.http.addr, 'localhost:5000');
    assert.equal(config.http.prefix, '/my/nested/registry/');
    assert.equal(config.http.host, 'https://myregistryaddress.org:5000');
    assert.equal(config.http.relativeurls, false);
    assert.equal(config.http.draintimeout, 60_000);
    assert.deepEqual(config.http.tls?.clientcas, ['/path/to/ca.pem', '/path/to/another/ca.pem']);
    assert.equal(config.http.tls?.clientauth, 'require-and-verify-client-cert');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.equal(config.notifications?.events.includereferences, true);
    const [listener] = config.notifications?.endpoints ?? [];
    assert.equal(listener?.name, 'alistener');
    assert.equal(listener?.url, 'https://my.listener.com/event');
    assert.equal(listener?.timeout, 1000);
    assert.equal(listener?.threshold, 10);
    assert.deepEqual(listener?.ignoredmediatypes, ['application/octet-stream']);
    assert.deepEqual(listener?.ignore.actions, ['pull']);
    assert.equal(config.catalog.maxentries, 1000);
    assert.equal(config.log.formatter, 'text');
    assert.deepEqual(config.http.debug, { addr: 'localhost:5001', prometheus: { enabled: true, path: '/metrics' } });
    assert.deepEqual(config.health?.storagedriver, { enabled: true, interval: 10_000, threshold: 3 });
    assert.deepEqual(config.health?.file, [{ file: '/path/to/checked/file', interval: 10_000 }]);
    assert.equal(config.health?.http[0]?.uri, 'http://server.to.check/must/return/200');
    assert.equal(config.health?.http[0]?.timeout, 3_000);
    assert.deepEqual(config.health?.http[0]?.headers, { Authorization: ['Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='] });
    assert.equal(config.health?.tcp[0]?.addr, 'redis-server.domain.com:6379');
    assert.equal(config.health?.tcp[0]?.threshold, 3);
  });
});

describe('unknown keys', () => {
  it('are dropped with a warning that gives the key path', () => {
    const { config, warnings } = load(
      `${STORAGE}    bogus: 1\nhttp:\n  addr: :5000\n  extra:\n    nested: true\nsurprise: yes\n`,
    );
    for (const path of ['storage.filesystem.bogus', 'http.extra', 'surprise']) {
      assert.ok(
        warnings.includes(`configuration: unknown key "${path}" ignored`),
        `warning for ${path}; got:\n${warnings.join('\n')}`,
      );
    }
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
  });
});

describe('invalid values', () => {
  const cases: Array<[string, string, RegExp?]> = [
    ['http.addr', 'http:\n  addr: nonsense\n', /not host:port/],
    ['http.addr', 'http:\n  addr: localhost:99999\n'],
    ['http.addr', 'http:\n  addr: 5000\n'],
    ['http.net', 'http:\n  net: udp\n'],
    ['http.prefix', 'http:\n  prefix: registry/\n', /must start with "\/"/],
    ['http.host', 'http:\n  host: registry.example.com\n'],
    ['http.draintimeout', 'http:\n  draintimeout: a while\n', /not a duration/],
    ['http.tls.minimumtls', 'http:\n  tls:\n    minimumtls: tls1.4\n'],
    ['http.tls.clientauth', 'http:\n  tls:\n    clientauth: trust-everyone\n'],
    ['http.tls.ciphersuites.0', 'http:\n  tls:\n    ciphersuites: [TLS_MADE_UP]\n'],
    [
      'storage.delete.enabled',
      'storage:\n  filesystem: {rootdirectory: /x}\n  delete:\n    enabled: maybe\n',
      /expected true or false, not "maybe"/,
    ],
    [
      'storage.maintenance.uploadpurging.age',
      'storage:\n  filesystem: {rootdirectory: /x}\n  maintenance:\n    uploadpurging:\n      age: soon\n',
      /"soon" is not a duration/,
    ],
    [
      'storage.maintenance.readonly.enabled',
      'storage:\n  filesystem: {rootdirectory: /x}\n  maintenance:\n    readonly:\n      enabled: perhaps\n',
    ],
    ['log.level', 'log:\n  level: loud\n', /expected one of error, warn, info, debug/],
    ['catalog.maxentries', 'catalog:\n  maxentries: -1\n'],
    ['berth.manifestmaxsize', 'berth:\n  manifestmaxsize: big\n'],
    ['version', 'version: 0.2\n'],
  ];
  for (const [key, text, message] of cases) {
    it(`stop loading with a message naming ${key}`, () => {
      const full = text.startsWith('storage:') ? text : `${STORAGE}${text}`;
      const error = configError(full);
      assert.match(error, new RegExp(`^  ${key.replace(/\./g, '\\.')}: `, 'm'), error);
      if (message) assert.match(error, message);
      assert.match(error, /invalid configuration in .*config\.yml/, 'the file is named');
    });
  }

  it('a configuration without storage is refused with a hint', () => {
    assert.match(
      configError('http:\n  addr: :5000\n'),
      /storage: required: configure storage\.filesystem\.rootdirectory/,
    );
  });

  it('storage without the filesystem driver is refused', () => {
    assert.match(configError('storage:\n  gcs:\n    bucket: a\n'), /storage: Berth serves storage\.filesystem/);
  });

  it('a file that is not YAML, or not a mapping, is refused', () => {
    assert.match(configError('storage: [unclosed\n'), /not valid YAML/);
    assert.match(configError('- a\n- b\n'), /must be a YAML mapping/);
  });

  it('a missing file is refused with its path', () => {
    assert.throws(
      () => loadConfig('/nonexistent/berth/config.yml', {}),
      (error: Error) => error instanceof ConfigError && error.message.includes('/nonexistent/berth/config.yml'),
    );
  });
});

describe("Distribution's YAML", () => {
  it('reads yes/no/on/off as booleans (YAML 1.1), and quoted or capitalised words too', () => {
    const { config } = load(
      `${STORAGE}  delete:\n    enabled: yes\n  maintenance:\n    uploadpurging:\n      enabled: off\n      dryrun: "True"\n    readonly:\n      enabled: No\n`,
    );
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.storage.maintenance.uploadpurging.enabled, false);
    assert.equal(config.storage.maintenance.uploadpurging.dryrun, true);
    assert.equal(config.storage.maintenance.readonly?.enabled, false);
  });

  it('keeps times of day and dates as text, as Go does', () => {
    const { config } = load(`${STORAGE}log:\n  fields:\n    window: 10:20\n    since: 2024-01-01\n`);
    assert.deepEqual(config.log.fields, { window: '10:20', since: '2024-01-01' });
  });

  it('reads Go durations, and bare numbers as nanoseconds', () => {
    const { config } = load(
      `${STORAGE}  maintenance:\n    uploadpurging:\n      age: 1h30m\n      interval: 2000000000\nhttp:\n  draintimeout: 500ms\n`,
    );
    assert.equal(config.storage.maintenance.uploadpurging.age, 90 * 60_000);
    assert.equal(config.storage.maintenance.uploadpurging.interval, 2000);
    assert.equal(config.http.draintimeout, 500);
  });

  it('a key written twice keeps its last value, with a warning', () => {
    const { config, warnings } = load(`${STORAGE}http:\n  addr: :5000\n  addr: :6000\n`);
    assert.equal(config.http.addr, ':6000');
    assert.ok(
      warnings.includes('configuration: key "http.addr" is written more than once; the last value is used'),
      warnings.join('\n'),
    );
  });

  it('log levels are read case-insensitively; loglevel (deprecated) applies when log.level is absent', () => {
    assert.equal(load(`${STORAGE}log:\n  level: DEBUG\n`).config.log.level, 'debug');
    const old = load(`${STORAGE}loglevel: warn\n`);
    assert.equal(old.config.log.level, 'warn');
    assert.ok(old.warnings.some((warning) => warning.includes('"loglevel" is deprecated')));
    assert.equal(load(`${STORAGE}loglevel: warn\nlog:\n  level: error\n`).config.log.level, 'error', 'log.level wins');
  });
});

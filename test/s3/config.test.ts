/**
 * `storage.s3` and `redis` as Distribution writes them: the example configuration's sections
 * load with their values, exactly one storage driver may be configured, REGISTRY_STORAGE=s3 with
 * REGISTRY_STORAGE_S3_… variables works, and bad values are refused naming their key. No server
 * is needed: this checks parsing and the client settings derived from it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfigText, validateConfig } from '../../src/config/load.js';
import { endpointUrl, s3Settings } from '../../src/storage/s3/client.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { tempDir } from '../helpers/berth.js';
import { refusedConfig } from '../helpers/config.js';
import { writeFileSync } from 'node:fs';

const MIB = 1024 * 1024;
const EXAMPLE = join(REPO_ROOT, 'test', 'config', 'fixtures', 'distribution-example.yml');

const refused = refusedConfig;

describe('storage.s3 configuration', () => {
  it("loads the S3 section of Distribution's example with its values", () => {
    const { raw } = parseConfigText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    const storage = raw.storage as Record<string, unknown>;
    const { config, warnings } = validateConfig({ storage: { s3: storage.s3 }, redis: raw.redis });
    const s3 = config.storage.s3!;
    assert.equal(config.storage.filesystem, undefined);
    assert.equal(s3.bucket, 'bucketname');
    assert.equal(s3.region, 'us-west-1');
    assert.equal(s3.regionendpoint, 'http://myobjects.local');
    assert.equal(s3.forcepathstyle, true);
    assert.equal(s3.encrypt, true);
    assert.equal(s3.keyid, 'mykeyid');
    assert.equal(s3.chunksize, 5 * MIB);
    assert.equal(s3.multipartcopychunksize, 32 * MIB);
    assert.equal(s3.multipartcopythresholdsize, 32 * MIB);
    assert.equal(s3.rootdirectory, '/s3/object/name/prefix');
    assert.ok(!warnings.some((warning) => warning.includes('unknown key')), warnings.join('\n'));
    assert.ok(
      warnings.some((warning) => warning.includes('storage.s3.loglevel')),
      'loglevel: debug is reported as ignored',
    );
    assert.deepEqual(config.redis?.addrs, ['localhost:6379']);
    assert.equal(config.redis?.password, 'asecret');
    assert.equal(config.redis?.dialtimeout, 10);
  });

  it('derives the client settings: key prefix, encryption, storage class, endpoint scheme', () => {
    const { config } = validateConfig({
      storage: {
        s3: {
          region: 'r',
          bucket: 'b',
          rootdirectory: '/a/b/',
          encrypt: true,
          keyid: 'k',
          storageclass: 'reduced_redundancy',
          regionendpoint: 'minio:9000',
          secure: false,
        },
      },
    });
    const settings = s3Settings(config.storage.s3!, { redirect: true });
    assert.equal(settings.prefix, 'a/b');
    assert.deepEqual(settings.objectOptions, {
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'k',
      StorageClass: 'REDUCED_REDUNDANCY',
    });
    assert.equal(settings.chunkSize, 10 * MIB, 'Distribution’s default chunk size');
    settings.client.destroy();
    assert.equal(endpointUrl('minio:9000', false), 'http://minio:9000');
    assert.equal(endpointUrl('minio:9000', true), 'https://minio:9000');
    assert.equal(endpointUrl('http://127.0.0.1:7480', true), 'http://127.0.0.1:7480');
    const none = validateConfig({ storage: { s3: { region: 'r', bucket: 'b', storageclass: 'NONE' } } }).config;
    const plain = s3Settings(none.storage.s3!, { redirect: false });
    assert.deepEqual(plain.objectOptions, {}, 'NONE sends no storage class, no encryption by default');
    plain.client.destroy();
  });

  it('accepts exactly one storage driver', () => {
    assert.match(
      refused({ storage: { filesystem: { rootdirectory: '/x' }, s3: { region: 'r', bucket: 'b' } } }),
      /exactly one storage driver, not filesystem and s3/,
    );
    assert.match(
      refused({ storage: { delete: { enabled: true } } }),
      /Berth serves storage\.filesystem, storage\.s3, storage\.azure or storage\.inmemory/,
    );
  });

  it('refuses missing or impossible S3 values, naming the key', () => {
    assert.match(refused({ storage: { s3: { bucket: 'b' } } }), /storage\.s3\.region/);
    assert.match(refused({ storage: { s3: { region: 'r' } } }), /storage\.s3\.bucket/);
    assert.match(
      refused({ storage: { s3: { region: 'r', bucket: 'b', chunksize: 1024 } } }),
      /storage\.s3\.chunksize: .*5 MiB/,
    );
    assert.match(
      refused({ storage: { s3: { region: 'r', bucket: 'b', forcepathstyle: 'maybe' } } }),
      /storage\.s3\.forcepathstyle/,
    );
    assert.match(refused({ storage: { filesystem: {} }, redis: { password: 'x' } }), /redis: set addr/);
  });

  it('REGISTRY_STORAGE=s3 with REGISTRY_STORAGE_S3_… variables picks and configures the driver', () => {
    const folder = tempDir('berth-s3-config-');
    const file = join(folder, 'config.yml');
    writeFileSync(file, 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n');
    const { config } = loadConfig(file, {
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_CHUNKSIZE: '16777216',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_REDIS_ADDR: 'redis:6379',
    });
    assert.equal(config.storage.filesystem, undefined);
    assert.equal(config.storage.s3?.bucket, 'images');
    assert.equal(config.storage.s3?.chunksize, 16 * MIB);
    assert.equal(config.storage.s3?.forcepathstyle, true);
    assert.equal(config.redis?.addr, 'redis:6379');
  });
});

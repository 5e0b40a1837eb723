/**
 * `storage.azure` as Distribution writes it: the example configuration's section loads with its
 * values (its Entra ID credentials refused with a message), the endpoint is derived as
 * Distribution derives it, REGISTRY_STORAGE=azure with REGISTRY_STORAGE_AZURE_… variables works
 * (keys with underscores included), bad values are refused naming their key, and the driver is
 * loaded only when first used. No server is needed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectiveConfigText } from '../../src/config/check.js';
import { loadConfig, parseConfigText, validateConfig } from '../../src/config/load.js';
import { serviceUrl } from '../../src/storage/azure/client.js';
import { AzureDriver } from '../../src/storage/azure/driver.js';
import { DeferredDriver } from '../../src/storage/deferred.js';
import { createDriver } from '../../src/storage/factory.js';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { tempDir } from '../helpers/berth.js';
import { refusedConfig } from '../helpers/config.js';

const EXAMPLE = join(REPO_ROOT, 'test', 'config', 'fixtures', 'distribution-example.yml');

const refused = refusedConfig;

const KEY = Buffer.from('a key').toString('base64');

describe('storage.azure configuration', () => {
  it("loads the Azure section of Distribution's example with its values, refusing its Entra ID credentials", () => {
    const { raw } = parseConfigText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    const section = (raw.storage as Record<string, Record<string, unknown>>).azure!;
    assert.match(
      refused({ storage: { azure: section } }),
      /storage\.azure\.credentials\.type: client_secret \(Entra ID\) credentials are not supported by Berth/,
    );
    const { credentials: _, ...sharedKey } = section;
    const { config, warnings } = validateConfig({ storage: { azure: sharedKey } });
    const azure = config.storage.azure!;
    assert.equal(config.storage.filesystem, undefined);
    assert.equal(azure.accountname, 'accountname');
    assert.equal(azure.accountkey, 'base64encodedaccountkey');
    assert.equal(azure.container, 'containername');
    assert.equal(azure.rootdirectory, '/az/object/name/prefix');
    assert.equal(azure.max_retries, 10);
    assert.equal(azure.retry_delay, 100);
    assert.equal(azure.realm, 'core.windows.net');
    assert.equal(azure.copy_status_poll_max_retry, 5, "Distribution's default");
    assert.equal(azure.copy_status_poll_delay, 100, "Distribution's default, 100ms");
    assert.ok(!warnings.some((warning) => warning.includes('storage.azure')), warnings.join('\n'));
    const shared = validateConfig({ storage: { azure: { ...sharedKey, credentials: { type: 'shared_key' } } } });
    assert.equal(shared.config.storage.azure?.credentials?.type, 'shared_key');
  });

  it('derives the endpoint from accountname and realm unless serviceurl is set', () => {
    const azure = (extra: Record<string, unknown>) =>
      validateConfig({ storage: { azure: { accountname: 'acme', accountkey: KEY, container: 'images', ...extra } } })
        .config.storage.azure!;
    assert.equal(serviceUrl(azure({})), 'https://acme.blob.core.windows.net');
    assert.equal(serviceUrl(azure({ realm: 'core.chinacloudapi.cn' })), 'https://acme.blob.core.chinacloudapi.cn');
    assert.equal(serviceUrl(azure({ serviceurl: 'http://127.0.0.1:10000/acme' })), 'http://127.0.0.1:10000/acme');
    const driver = new AzureDriver(azure({ rootdirectory: '/a/b/' }));
    assert.equal(driver.settings.container.url, 'https://acme.blob.core.windows.net/images');
  });

  it('refuses missing or impossible Azure values, naming the key', () => {
    assert.match(refused({ storage: { azure: { accountname: 'a', accountkey: KEY } } }), /storage\.azure\.container/);
    assert.match(
      refused({ storage: { azure: { accountkey: KEY, container: 'images' } } }),
      /storage\.azure\.accountname: required/,
    );
    assert.match(
      refused({ storage: { azure: { accountname: 'a', container: 'images' } } }),
      /storage\.azure\.accountkey: required/,
    );
    assert.match(
      refused({ storage: { azure: { accountname: 'a', accountkey: KEY, container: 'Images_1' } } }),
      /storage\.azure\.container: must be an Azure container name/,
    );
    assert.match(
      refused({
        storage: { azure: { accountname: 'a', accountkey: KEY, container: 'images', credentials: { type: 'sas' } } },
      }),
      /storage\.azure\.credentials\.type: expected one of shared_key, client_secret, default_credentials/,
    );
    assert.match(
      refused({ storage: { azure: { accountname: 'a', accountkey: KEY, container: 'images', retry_delay: 'soon' } } }),
      /storage\.azure\.retry_delay/,
    );
    assert.match(
      refused({ storage: { filesystem: { rootdirectory: '/x' }, azure: { connectionstring: 'x', container: 'abc' } } }),
      /exactly one storage driver, not filesystem and azure/,
    );
    const connection = validateConfig({ storage: { azure: { connectionstring: 'AccountName=a', container: 'abc' } } });
    assert.equal(connection.config.storage.azure?.connectionstring, 'AccountName=a', 'a connection string suffices');
  });

  it('REGISTRY_STORAGE=azure with REGISTRY_STORAGE_AZURE_… variables picks and configures the driver', () => {
    const folder = tempDir('berth-azure-config-');
    after(() => rmSync(folder, { recursive: true, force: true }));
    const file = join(folder, 'config.yml');
    writeFileSync(file, 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n');
    const { config } = loadConfig(file, {
      REGISTRY_STORAGE: 'azure',
      REGISTRY_STORAGE_AZURE_ACCOUNTNAME: 'acme',
      REGISTRY_STORAGE_AZURE_ACCOUNTKEY: KEY,
      REGISTRY_STORAGE_AZURE_CONTAINER: 'images',
      REGISTRY_STORAGE_AZURE_ROOTDIRECTORY: '/registry',
      REGISTRY_STORAGE_AZURE_MAX_RETRIES: '3',
      REGISTRY_STORAGE_AZURE_RETRY_DELAY: '250ms',
      REGISTRY_STORAGE_AZURE_COPY_STATUS_POLL_MAX_RETRY: '-1',
      REGISTRY_STORAGE_AZURE_COPY_STATUS_POLL_DELAY: '1s',
    });
    assert.equal(config.storage.filesystem, undefined);
    assert.deepEqual(config.storage.azure, {
      accountname: 'acme',
      accountkey: KEY,
      container: 'images',
      rootdirectory: '/registry',
      realm: 'core.windows.net',
      max_retries: 3,
      retry_delay: 250,
      copy_status_poll_max_retry: -1,
      copy_status_poll_delay: 1000,
    });
  });

  it('berth config print redacts the account key and the connection string', () => {
    const folder = tempDir('berth-azure-print-');
    after(() => rmSync(folder, { recursive: true, force: true }));
    const file = join(folder, 'config.yml');
    writeFileSync(
      file,
      `version: 0.1\nstorage:\n  azure:\n    connectionstring: AccountName=acme;AccountKey=${KEY}\n    container: images\n`,
    );
    const printed = effectiveConfigText(file, { REGISTRY_STORAGE_AZURE_ACCOUNTKEY: KEY });
    assert.ok(!printed.includes(KEY), printed);
    assert.match(printed, /connectionstring: <redacted>/);
    assert.match(printed, /accountkey: <redacted>/);
    assert.match(printed, /container: images/);
  });

  it('is loaded on first use, as the S3 driver is', async () => {
    const { config } = validateConfig({
      storage: { azure: { accountname: 'acme', accountkey: KEY, container: 'images' } },
    });
    const driver = createDriver(config.storage);
    assert.ok(driver instanceof DeferredDriver);
    assert.equal(driver.name, 'azure');
    assert.equal(driver.repositoryIndex?.complete, true);
    assert.ok((await driver.loaded()) instanceof AzureDriver);
  });
});

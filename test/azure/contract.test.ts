/** The Azure driver against the storage driver contract, on Azurite (a real Blob Storage API). */
import { after, before, describe } from 'node:test';
import { AzureDriver } from '../../src/storage/azure/driver.js';
import { validateConfig } from '../../src/config/load.js';
import { startAzurite, type TestAzurite } from '../helpers/azurite.js';
import { runDriverContract } from '../storage/contract.js';

describe('Azure driver contract on Azurite', () => {
  let azurite: TestAzurite;
  let container: string;
  let count = 0;

  before(async () => {
    azurite = await startAzurite();
    container = await azurite.createContainer();
  });

  after(async () => {
    await azurite?.stop();
  });

  // Each case gets its own root directory in the shared container: fresh, empty storage.
  runDriverContract('azure', () => {
    const { config } = validateConfig({
      storage: { azure: azurite.azureConfig(container, { rootdirectory: `/contract-${++count}` }) },
    });
    return new AzureDriver(config.storage.azure!);
  });
});

/** The S3 driver against the storage driver contract, on a real S3 server (Ceph's radosgw). */
import { after, before } from 'node:test';
import { S3Driver } from '../../src/storage/s3/driver.js';
import { validateConfig } from '../../src/config/load.js';
import { startCeph, cephTools, type CephCluster } from '../helpers/ceph.js';
import { describeWithTools } from '../helpers/tools.js';
import { runDriverContract } from '../storage/contract.js';

describeWithTools('S3 driver contract on Ceph', cephTools(), () => {
  let ceph: CephCluster;
  let bucket: string;
  let count = 0;
  const drivers: S3Driver[] = [];

  before(async () => {
    ceph = await startCeph();
    bucket = await ceph.createBucket();
  });

  after(async () => {
    await Promise.all(drivers.map((driver) => driver.close()));
    await ceph?.stop();
  });

  // Each case gets its own root directory in the shared bucket: fresh, empty storage.
  runDriverContract('s3', () => {
    const { config } = validateConfig({
      storage: { s3: ceph.s3Config(bucket, { rootdirectory: `/contract-${++count}` }) },
    });
    const driver = new S3Driver(config.storage.s3!);
    drivers.push(driver);
    return driver;
  });
});

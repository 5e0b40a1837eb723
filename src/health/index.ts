/** The checks of Distribution's `health` section, from the configuration (src/config/observability.ts). */
import type { Logger } from 'pino';
import type { HealthConfig } from '../config/observability.js';
import type { StorageDriver } from '../storage/driver.js';
import { fileCheck, httpCheck, storageCheck, tcpCheck } from './checks.js';
import { HealthMonitor, type PeriodicCheck } from './monitor.js';

export { HealthMonitor } from './monitor.js';

/** A check without a timeout of its own gets its interval, so runs never pile up. */
export function healthMonitor(config: HealthConfig | undefined, driver: StorageDriver, logger: Logger): HealthMonitor {
  const checks: PeriodicCheck[] = [];
  const storage = config?.storagedriver;
  if (storage?.enabled) {
    checks.push({
      name: `storagedriver_${driver.name}`,
      check: storageCheck(driver),
      intervalMs: storage.interval,
      threshold: storage.threshold,
      timeoutMs: storage.interval,
    });
  }
  for (const file of config?.file ?? []) {
    checks.push({
      name: file.file,
      check: fileCheck(file.file),
      intervalMs: file.interval,
      threshold: 0,
      timeoutMs: file.interval,
    });
  }
  for (const entry of config?.http ?? []) {
    const timeoutMs = entry.timeout ?? entry.interval;
    checks.push({
      name: entry.uri,
      check: httpCheck({ uri: entry.uri, headers: entry.headers, statuscode: entry.statuscode, timeoutMs }),
      intervalMs: entry.interval,
      threshold: entry.threshold,
      timeoutMs,
    });
  }
  for (const entry of config?.tcp ?? []) {
    const timeoutMs = entry.timeout ?? entry.interval;
    checks.push({
      name: entry.addr,
      check: tcpCheck(entry.addr, timeoutMs),
      intervalMs: entry.interval,
      threshold: entry.threshold,
      timeoutMs,
    });
  }
  return new HealthMonitor(checks, logger);
}

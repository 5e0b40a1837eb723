/**
 * Distribution's storage middleware (`middleware.storage`), of which Berth implements `redirect`:
 * blob downloads answer 307 to `<baseurl's scheme and host><storage path>` (for example a CDN or
 * web server that serves the storage folder), as Distribution's redirect middleware does.
 * `storage.redirect.disable: true` turns it off, as it turns off every redirect.
 */
import type { StorageDriver } from './driver.js';

export interface StorageMiddleware {
  name: string;
  disabled?: boolean;
  options?: Record<string, unknown>;
}

/** The driver with its `redirectURL` answered by the redirect middleware. */
function redirecting(driver: StorageDriver, baseurl: string): StorageDriver {
  const origin = new URL(baseurl).origin;
  const redirectURL = async (path: string) => `${origin}${path}`;
  return new Proxy(driver, {
    get(target, property) {
      if (property === 'redirectURL') return redirectURL;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function applyStorageMiddleware(
  driver: StorageDriver,
  middleware: readonly StorageMiddleware[] | undefined,
  redirectsDisabled: boolean,
): StorageDriver {
  const redirect = middleware?.find((entry) => entry.name === 'redirect' && !entry.disabled);
  if (!redirect || redirectsDisabled) return driver;
  return redirecting(driver, String(redirect.options?.baseurl));
}

/**
 * `registry_storage_action_seconds{driver,action}`: Distribution's histogram of storage driver
 * calls, with its action names (GetContent, PutContent, Reader, Writer, Stat, List, Move,
 * Delete, Walk, URLFor) and driver names (filesystem, s3aws). As in Distribution, Reader and
 * Writer time opening the stream, not moving its bytes.
 *
 * `instrumentDriver` wraps a driver so every call is timed, and given a span when tracing is on
 * (src/tracing): the one place where storage calls are observed.
 */
import type { StorageDriver } from '../storage/driver.js';
import { histogram } from './registry.js';

const actions = histogram({
  name: 'registry_storage_action_seconds',
  help: 'The number of seconds that the storage action takes',
  labelNames: ['driver', 'action'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

/** Distribution's names for the drivers Berth serves. */
const DRIVER_NAMES: Record<string, string> = { filesystem: 'filesystem', s3: 's3aws' };

/** Runs one storage call; `action` is Distribution's name for it. */
export type StorageCallWrapper = <T>(action: string, call: () => Promise<T>) => Promise<T>;

export interface DriverObservers {
  /** Time every call into registry_storage_action_seconds. */
  metrics: boolean;
  /** Wraps every call in a span (src/tracing), when tracing is on. */
  span?: StorageCallWrapper;
}

export function instrumentDriver(driver: StorageDriver, observers: DriverObservers): StorageDriver {
  if (!observers.metrics && !observers.span) return driver;
  const labelDriver = DRIVER_NAMES[driver.name] ?? driver.name;
  const timers = new Map<string, ReturnType<typeof actions.labels>>();
  const timerOf = (action: string) => {
    let timer = timers.get(action);
    if (!timer) {
      timer = actions.labels({ driver: labelDriver, action });
      timers.set(action, timer);
    }
    return timer;
  };
  const around = observers.span;
  function measured<T>(action: string, operation: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const promise = operation();
    const observe = () => timerOf(action).observe((performance.now() - started) / 1000);
    promise.then(observe, observe);
    return promise;
  }
  function call<T>(action: string, operation: () => Promise<T>): Promise<T> {
    if (!around) return measured(action, operation);
    return around(action, observers.metrics ? () => measured(action, operation) : operation);
  }
  const wrapped: StorageDriver = {
    name: driver.name,
    getContent: (path) => call('GetContent', () => driver.getContent(path)),
    putContent: (path, content) => call('PutContent', () => driver.putContent(path, content)),
    reader: (path, range) => call('Reader', () => driver.reader(path, range)),
    writer: (path) => call('Writer', () => driver.writer(path)),
    stat: (path) => call('Stat', () => driver.stat(path)),
    list: (path) => call('List', () => driver.list(path)),
    move: (source, destination) => call('Move', () => driver.move(source, destination)),
    delete: (path) => call('Delete', () => driver.delete(path)),
    walk: (path, visit) => call('Walk', () => driver.walk(path, visit)),
    ping: () => driver.ping(),
    repositoryIndex: driver.repositoryIndex,
  };
  if (driver.redirectURL) {
    const redirectURL = driver.redirectURL.bind(driver);
    wrapped.redirectURL = (path, method) => call('URLFor', () => redirectURL(path, method));
  }
  if (driver.createExclusive) {
    const createExclusive = driver.createExclusive.bind(driver);
    wrapped.createExclusive = (path, content) => call('PutContent', () => createExclusive(path, content));
  }
  if (driver.close) wrapped.close = driver.close.bind(driver);
  return wrapped;
}

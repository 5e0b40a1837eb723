/**
 * Starts a real Berth on a loopback port over a fresh temporary folder, for tests that speak
 * HTTP to it. `overrides` is merged into the configuration the way a config file would be.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createBerth, type Berth } from '../../src/app.js';
import type { Clock } from '../../src/ratelimit/windows.js';
import { validateConfig } from '../../src/config/load.js';

export interface TestBerth {
  url: string;
  /** host:port, for clients that want a registry name. */
  host: string;
  root: string;
  berth: Berth;
  close(options?: { keepRoot?: boolean }): Promise<void>;
}

export function tempDir(prefix = 'berth-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Temporary folders made by one suite: `make(prefix)` in its tests, `removeAll()` in its `after`. */
export function tempFolders(): { make(prefix: string): string; removeAll(): Promise<void> } {
  const made: string[] = [];
  return {
    make(prefix) {
      const dir = tempDir(prefix);
      made.push(dir);
      return dir;
    },
    async removeAll() {
      for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Merges `extra` into a configuration tree, mapping into mapping, as a config file's sections would. */
export function mergeConfig(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const result = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = result[key];
    result[key] =
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof current === 'object' &&
      current !== null
        ? mergeConfig(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return result;
}

export async function startBerth(
  options: {
    root?: string;
    config?: Record<string, unknown>;
    logger?: Logger;
    /** The clock rate-limit windows read (test/helpers/clock.ts). */
    clock?: { now: Clock };
  } = {},
): Promise<TestBerth> {
  const root = options.root ?? tempDir();
  const raw = mergeConfig(
    {
      version: '0.1',
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
      http: { addr: '127.0.0.1:0' },
    },
    options.config ?? {},
  );
  const { config } = validateConfig(raw);
  const berth = createBerth(config, options.logger ?? pino({ level: process.env.BERTH_TEST_LOG ?? 'silent' }), {
    clock: options.clock?.now,
  });
  const { port } = await berth.listen({ host: '127.0.0.1', port: 0 });
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    root,
    berth,
    async close({ keepRoot = false } = {}) {
      await berth.close();
      if (!keepRoot && !options.root) rmSync(root, { recursive: true, force: true });
    },
  };
}
